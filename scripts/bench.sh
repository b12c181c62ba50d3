#!/usr/bin/env bash
# The benchmark (issue 6): `npm run bench` (full, ~15 min), `npm run bench -- --quick` (< 2 min).
# Starts its own Redis and FerretDB on free loopback ports; writes bench/results/latest.{json,md,svg}.
source "$(dirname "$0")/lib.sh"
bootstrap
cd "$ROOT"
exec node bench/run.ts "$@"
