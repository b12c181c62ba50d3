#!/usr/bin/env bash
# Runs today's versions of the given test files against the source of an earlier commit, to show
# that the tests of a fix fail without it (issue 21: `bash scripts/fails-on.sh 058d750
# test/unit/mongo-write-path.test.ts`). The commit's own test support is kept, but for the files
# named in FAILS_ON_SUPPORT (default: the scripted wire server and the harness), which are copied in
# too. Integration files start the local servers as the suite does.
# Prints the verdict of each test there, then the counts.
source "$(dirname "$0")/lib.sh"
bootstrap
commit=${1:?usage: fails-on.sh <commit> <test file>...}; shift
[ $# -gt 0 ] || { echo "fails-on: name at least one test file" >&2; exit 2; }
tree=$(mktemp -d /tmp/fails-on.XXXXXX)
trap 'git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git -C "$ROOT" worktree add -q --detach "$tree" "$commit"
for f in "$@" ${FAILS_ON_SUPPORT:-test/support/wire-server.ts test/support/harness.ts}; do mkdir -p "$tree/$(dirname "$f")"; cp "$ROOT/$f" "$tree/$f"; done
ln -s "$ROOT/node_modules" "$tree/node_modules"; ln -s "$ROOT/.tools" "$tree/.tools"
cd "$tree"
npx vitest run --reporter=json --outputFile.json=report.json "$@" >/dev/null 2>&1 || true
node -e '
const r = JSON.parse(require("fs").readFileSync("report.json", "utf8"));
let passed = 0;
for (const f of r.testResults) for (const t of f.assertionResults) { console.log(`${t.status === "passed" ? "passes" : "FAILS "} ${t.title}`); if (t.status === "passed") passed++; }
console.log(`on ${process.argv[1]}: ${r.numFailedTests} failed, ${passed} passed`);
process.exit(0);' "$commit"
