#!/usr/bin/env bash
# Quick start, command 1: local Redis + FerretDB (unless REDIS_URL/MONGO_URL are set), the API and the worker.
source "$(dirname "$0")/lib.sh"
bootstrap
cd "$ROOT"
# Production runs compiled JavaScript: build it (incremental, fast the second time).
npm run --silent build
exec node scripts/run-local.ts "$@"
