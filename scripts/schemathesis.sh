# Sourced by scripts/test.sh: schemathesis (property-based API testing, from PyPI) for
# test/contract/schemathesis.test.ts, pinned, in a git-ignored virtual environment at the repo root
# (not under .tools, which worktrees share). Installed once; reinstalled when the pin changes.
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV="$ROOT/.venv-schemathesis"

ensure_schemathesis() {
  local bin="$SCHEMATHESIS_VENV/bin/schemathesis"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then return; fi
  command -v python3 >/dev/null || { say "python3 is needed for schemathesis: apt-get install -y python3 python3-venv"; return 1; }
  say "schemathesis $SCHEMATHESIS_VERSION into .venv-schemathesis"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}
