// Prints the closing lines over vitest's JSON reports; the last is e.g. "Tests: 409 passed, 0 failed".
import { existsSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    failed += 1; // a run that wrote no report did not pass
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
}
// vitest's own summary format first, for tools that read that; CI reads only the closing line, so
// the plain "Tests: N passed, N failed" must be the very last line printed.
const files = { passed: 0, failed: 0 };
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) continue;
  const report = JSON.parse(readFileSync(file, 'utf8')) as { testResults: { status: string }[] };
  for (const r of report.testResults) files[r.status === 'passed' ? 'passed' : 'failed'] += 1;
}
const part = (n: number, word: string) => (n ? [`${n} ${word}`] : []);
const total = passed + failed + skipped;
process.stdout.write(` Test Files  ${[...part(files.failed, 'failed'), ...part(files.passed, 'passed')].join(' | ')} (${files.passed + files.failed})\n`);
process.stdout.write(`      Tests  ${[...part(failed, 'failed'), ...part(passed, 'passed'), ...part(skipped, 'skipped')].join(' | ')} (${total})\n\n`);
process.stdout.write(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
