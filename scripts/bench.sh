#!/usr/bin/env bash
# The benchmark (issue 6): `npm run bench` (full, ~15 min), `npm run bench -- --quick` (< 2 min).
# Starts its own Redis and FerretDB on free loopback ports; writes bench/results/latest.{json,md,svg}.
source "$(dirname "$0")/lib.sh"
bootstrap
cd "$ROOT"
# The API and the worker run as production runs them: compiled JavaScript (dist/).
npm run --silent build
exec node bench/run.ts "$@"
