#!/usr/bin/env bash
# Quick start, command 1: local Redis + FerretDB (unless REDIS_URL/MONGO_URL are set), the API and the worker.
source "$(dirname "$0")/lib.sh"
bootstrap
cd "$ROOT"
exec node scripts/run-local.ts "$@"
