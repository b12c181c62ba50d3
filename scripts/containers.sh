# Sourced by scripts/test.sh after lib.sh: the container engine (podman, from Debian) with this
# project's own configuration, its Docker-compatible API socket for testcontainers, and the images
# built from Debian packages (scripts/images.sh). Nothing is pulled from an image registry.
PODMAN_DIR="$ROOT/.data/podman"

ensure_podman() {
  local missing=()
  for tool in podman runc mmdebstrap newuidmap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing podman, runc, mmdebstrap and uidmap from Debian (containers layer)"
      (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap uidmap >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap uidmap >/dev/null; })
    else
      say "the containers layer needs podman, runc, mmdebstrap and uidmap (missing: ${missing[*]}): apt-get install -y podman runc mmdebstrap uidmap"
      return 1
    fi
  fi
  # runc with cgroupfs and fixed ulimits (scripts/podman/containers.conf says why); the system's files stay as they are.
  export CONTAINERS_CONF="$ROOT/scripts/podman/containers.conf"
  mkdir -p "$ROOT/.data"
  if ! podman info >/dev/null 2>"$ROOT/.data/podman-info.err"; then
    say "podman cannot run on this machine: $(tail -1 "$ROOT/.data/podman-info.err")"
    return 1
  fi
}

# podman-compose from PyPI, pinned, in a git-ignored virtual environment (as schemathesis): Debian's
# 1.0.3 merges an override's lists into the base file's (a `command` or a health check `test` is
# appended to, not replaced) and knows no `!reset`; 1.6.0 follows the compose specification.
PODMAN_COMPOSE_VERSION=1.6.0
ensure_podman_compose() {
  local venv="$ROOT/.venv-podman-compose"
  export PODMAN_COMPOSE="$venv/bin/podman-compose"
  if [ -x "$PODMAN_COMPOSE" ] && "$PODMAN_COMPOSE" --version 2>/dev/null | grep -q "podman-compose version $PODMAN_COMPOSE_VERSION\$"; then return; fi
  say "podman-compose $PODMAN_COMPOSE_VERSION into .venv-podman-compose"
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
}

# The Docker-compatible API that testcontainers talks to, on a socket of our own. Its output goes to a
# file, never to ours: a process that kept our stdout open would hold CI's reading of it.
start_podman_service() {
  mkdir -p "$PODMAN_DIR"
  local sock="$PODMAN_DIR/podman.sock"
  export DOCKER_HOST="unix://$sock"
  # The reaper's image cannot be pulled here; every test removes what it starts itself.
  export TESTCONTAINERS_RYUK_DISABLED=true
  # Without it testcontainers uses the bridge's gateway address: every test connection goes to loopback.
  export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
  if curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then return; fi
  rm -f "$sock"
  podman system service --time=0 "unix://$sock" >"$PODMAN_DIR/service.log" 2>&1 </dev/null &
  PODMAN_SERVICE_PID=$!
  for _ in $(seq 1 100); do
    if curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  say "podman's API service did not answer on $sock: $(tail -3 "$PODMAN_DIR/service.log")"
  return 1
}

stop_podman_service() {
  if [ -n "${PODMAN_SERVICE_PID:-}" ]; then kill "$PODMAN_SERVICE_PID" 2>/dev/null || true; wait "$PODMAN_SERVICE_PID" 2>/dev/null || true; fi
  PODMAN_SERVICE_PID=
}
