import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quoted } from '../support/quoted-output.ts';

// CI reads only the closing line of `.ci/run`: if anything follows "Tests: N passed, N failed",
// the run counts as one that executed no test (it happened at stop 18).
const dir = mkdtempSync(join(tmpdir(), 'summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function report(name: string, passed: number, failed: number, files: string[]): string {
  const path = join(dir, name);
  const testResults = files.map((status) => ({ status }));
  writeFileSync(path, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, numPendingTests: 0, numTodoTests: 0, testResults }));
  return path;
}

function summary(...files: string[]): string[] {
  const out = execFileSync(process.execPath, ['scripts/test-summary.ts', ...files], { encoding: 'utf8' });
  return out.trimEnd().split('\n');
}

describe('the test command closing line', () => {
  it('when all runs wrote reports, then the last line printed is the plain "Tests: N passed, N failed" over all of them', () => {
    const lines = summary(report('a.json', 10, 1, ['passed', 'failed']), report('b.json', 5, 0, ['passed']));
    expect(lines.at(-1)).toBe('Tests: 15 passed, 1 failed');
    expect(lines).toContain(' Test Files  1 failed | 2 passed (3)');
  });

  it('when a run wrote no report, then it counts as one failure in the closing line', () => {
    const lines = summary(report('c.json', 3, 0, ['passed']), join(dir, 'missing.json'));
    expect(lines.at(-1)).toBe('Tests: 3 passed, 1 failed');
  });

  it('when the test command reports set-up steps on stderr, then .ci/run still ends its output with the closing line, on one stream', () => {
    // Stop 26 landed "ran no test" although stdout ended with the closing line: the set-up steps
    // (bootstrap) write to stderr, and a reader of stdout followed by stderr ends on one of them.
    const repo = join(dir, 'repo');
    mkdirSync(join(repo, '.ci'), { recursive: true });
    mkdirSync(join(repo, 'scripts'), { recursive: true });
    copyFileSync('.ci/run', join(repo, '.ci/run'));
    writeFileSync(join(repo, 'scripts/test.sh'), 'echo "[setup] npm ci" >&2\necho "Tests: 3 passed, 0 failed"\n');
    const run = spawnSync('bash', [join(repo, '.ci/run')], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.trimEnd().split('\n')).toEqual(['[setup] npm ci', 'Tests: 3 passed, 0 failed']);
  });
});

describe('another tool quoted in the test output', () => {
  // schemathesis' own summary, as it printed it in the CI run of stop 28.
  const summaryOfSchemathesis = ['=================================== SUMMARY ====================================', '', 'Test cases:', '  2106 generated, 2106 passed', '', '============================= 1 warning in 30.70s =============================='].join('\n');
  // pytest's closing line, which CI reads as a run of pytest (here: one that ran no test).
  const pytestClosing = /^=+ .* in [\d.]+s =+$/;
  // And the same words without the rules, as a lenient reader might take them.
  const pytestWords = /\b\d+ (passed|failed|warnings?|errors?|skipped)\b.* in [\d.]+s\b/;

  it('when a summary closes with a pytest-like rule, then no quoted line can be read as a pytest closing line, and the text stays', () => {
    const lines = quoted('schemathesis', summaryOfSchemathesis).split('\n');
    expect(summaryOfSchemathesis.split('\n').some((l) => pytestClosing.test(l))).toBe(true);
    expect(lines.filter((l) => pytestClosing.test(l) || pytestWords.test(l) || l.startsWith('='))).toEqual([]);
    expect(lines.every((l) => l.startsWith('[schemathesis]'))).toBe(true);
    expect(lines.at(-1)).toBe('[schemathesis] 1 warning (took 30.70 s)');
    expect(lines).toContain('[schemathesis]   2106 generated, 2106 passed');
  });
});
