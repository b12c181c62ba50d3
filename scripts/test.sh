#!/usr/bin/env bash
# Quick start, command 2: the whole test suite (type check, unit, integration, contract (schemathesis),
# browser, fault tests, Redis Cluster tests, then the containers layer: the Dockerfile, the compose
# file and the integration layer again on servers started by testcontainers, all with podman).
# With arguments, they go to vitest as they are (e.g. `bash scripts/test.sh --project unit`; the
# projects are unit, integration, contract, browser, faults, cluster, containers: see vitest.config.ts).
source "$(dirname "$0")/lib.sh"
# Plain text when the output is not a terminal (CI logs): no colour codes inside the summary lines.
if [ ! -t 1 ]; then export NO_COLOR=1; unset FORCE_COLOR; fi
source "$(dirname "$0")/schemathesis.sh"
source "$(dirname "$0")/containers.sh"
source "$(dirname "$0")/images.sh"
bootstrap
ensure_chromium
ensure_schemathesis
cd "$ROOT"
npm run --silent typecheck
# The containers layer (and TEST_SERVERS=containers) needs podman, its API service and the images;
# the service stops with this script.
with_containers() { ensure_podman && ensure_podman_compose && start_podman_service && ensure_images; }
trap stop_podman_service EXIT
if [ $# -gt 0 ]; then
  if [[ " $* " == *" containers "* || " $* " == *"test/containers/"* || "${TEST_SERVERS:-}" = containers ]]; then with_containers; fi
  status=0; npx vitest run "$@" || status=$?; exit $status
fi
mkdir -p .data && rm -f .data/test-*.json
status=0
# TEST_SHUFFLE=1: files and tests in random order (each file must stand alone); the seed is printed.
# A fault or cluster file is one scenario on its own servers and processes, told in steps: there the
# files are shuffled and each file's steps keep their order.
order=(); steps=(); if [ "${TEST_SHUFFLE:-}" = 1 ]; then order=(--sequence.shuffle); steps=(--sequence.shuffle.files); fi
# The fault tests kill and restart real processes and servers and are timing-heavy: they run after
# the rest, one file at a time, so they never compete with other test files for the 2 cores.
npx vitest run "${order[@]}" --project unit --project integration --project contract --project browser --reporter=default --reporter=json --outputFile.json=.data/test-main.json || status=$?
npx vitest run "${steps[@]}" --project faults --no-file-parallelism --reporter=default --reporter=json --outputFile.json=.data/test-faults.json || status=$?
# The Redis Cluster tests (issue 11) start a 6-node cluster per test and kill a master: last, one file at a time.
npx vitest run "${steps[@]}" --project cluster --no-file-parallelism --reporter=default --reporter=json --outputFile.json=.data/test-cluster.json || status=$?
# The containers layer (issue 23). A machine where podman cannot run fails here, saying why: no report,
# so the closing line counts a failure; it is never skipped.
if with_containers; then
  npx vitest run "${steps[@]}" --project containers --no-file-parallelism --reporter=default --reporter=json --outputFile.json=.data/test-containers.json || status=$?
  TEST_SERVERS=containers npx vitest run "${order[@]}" --project integration --reporter=default --reporter=json --outputFile.json=.data/test-testcontainers.json || status=$?
else
  status=1
fi
stop_podman_service
node scripts/test-summary.ts .data/test-main.json .data/test-faults.json .data/test-cluster.json .data/test-containers.json .data/test-testcontainers.json
exit $status
