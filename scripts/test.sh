#!/usr/bin/env bash
# Quick start, command 2: the whole test suite (type check, unit, integration, fault tests).
source "$(dirname "$0")/lib.sh"
bootstrap
ensure_chromium
cd "$ROOT"
npm run --silent typecheck
exec npx vitest run "$@"
