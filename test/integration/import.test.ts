import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/local-servers.ts';
import { drained, readNdjson, storedIds, runImporter, writeExport, type Format, importStack } from '../support/import.ts';

// Issue 13's acceptance: a registry export of 20,000 records (1 % invalid) in each format goes
// through `node src/import/main.ts` -> the real API -> Redis -> the real worker -> MongoDB.

const COUNT = 20_000;
// A limit and a retention that let 20,000 records and their status reads through.
const stack = importStack({ RATE_LIMIT_MAX: '1000000', JOB_KEEP_COMPLETED: '1000000', API_ENQUEUE_TIMEOUT_MS: '10000' });

type Reject = { line: number; errors: { path: string; message: string }[]; record: unknown };

describe('npm run import, against the real stack', () => {
  it.each<[Format, number, string[]]>([
    ['ndjson', 1_000_000, []],
    ['json', 2_000_000, []],
    ['csv', 3_000_000, []],
  ])('when a %s export of 20,000 records with 1 in 100 invalid is imported, then every valid record is stored, every invalid one is in the rejects file with its line, and the exit code is 1', async (format, firstId, extra) => {
    const file = await writeExport(stack.dir, format, COUNT, firstId);
    const before = stack.api.batches.length;
    const run = runImporter([file.path, '--url', stack.api.url, ...extra], stack.dir);
    const { code } = await run.exited;
    expect(code, run.output()).toBe(1);
    expect(run.output()).toContain(`20,000 records, ${file.validIds.length.toLocaleString('en-US')} accepted, ${file.invalid.length} rejected`);
    // Batches of the API's maximum (1000, read from its /docs/json), each acknowledged exactly once;
    // a loaded machine may answer some with 503 first, which are sent again.
    const acknowledged = stack.api.batches.slice(before).filter((b) => b.status === 202).map((b) => b.requestId.replace(/^import-[0-9a-f]+-/, ''));
    expect(acknowledged.sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: COUNT / 1000 }, (_, i) => String(i)));

    // In the order the batches were acknowledged (several are in flight at once).
    const rejects = readNdjson<Reject>(join(stack.dir, `registry-${firstId}.${format}.rejects.ndjson`)).sort((a, b) => a.line - b.line);
    expect(rejects.map((r) => r.line)).toEqual(file.invalid.map((r) => r.line));
    rejects.forEach((r, i) => {
      expect(r.errors.length, `line ${r.line}`).toBeGreaterThan(0);
      expect(JSON.stringify(r.record), `line ${r.line}`).toContain(String(file.invalid[i]!.id));
    });
    expect(new Set(rejects.flatMap((r) => r.errors.map((e) => e.path)))).toEqual(new Set(
      { ndjson: ['isactive', 'create_time', '(line)'], json: ['isactive', 'create_time', 'center_id'], csv: ['isactive', 'create_time', '(row)'] }[format],
    ));

    await drained(stack.h, 300_000, stack.worker);
    expect(await storedIds(stack.h, firstId, COUNT)).toEqual(file.validIds);
    // A value with a newline and quotes (a CSV field over two lines) arrives as it was written.
    expect((await stack.h.store.patients.findOne({ id: firstId + 7 }))?.fullname).toBe(`patient ${firstId + 7}\nsecond line, "quoted"`);
  }, 480_000);

  it('when the output is not a terminal, then progress comes as plain lines without escape codes; --wait counts every accepted record stored', async () => {
    const file = await writeExport(stack.dir, 'ndjson', 2000, 4_000_000);
    const reads = { ...stack.api.reads };
    const run = runImporter([file.path, '--url', stack.api.url, '--batch-size', '100', '--concurrency', '1', '--wait'], stack.dir);
    expect((await run.exited).code, run.output()).toBe(1);
    const lines = run.output().split('\n');
    expect(lines.filter((l) => /^\d+% \| [\d,]+ sent \| [\d,]+ accepted \| [\d,]+ rejected \| [\d,]+ rec\/s \| ETA /.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.startsWith('100% | 2,000 sent | 1,980 accepted | 20 rejected'))).toBe(true);
    expect(run.output()).not.toMatch(/\u001b\[/);
    expect(run.output()).toContain('stored 1,980, stale 0 (an equal or newer version was already stored), failed 0, unknown 0 (no longer kept by the API), still pending 0');
    // One receipt per batch of 100 (read until complete), not a status read per record.
    expect(stack.api.reads.statuses - reads.statuses).toBe(0);
    expect(stack.api.reads.receipts - reads.receipts).toBeGreaterThanOrEqual(20);
    expect(stack.api.reads.receipts - reads.receipts).toBeLessThan(1980);
  }, 240_000);

  it('when the URL, the file or a flag is wrong, then it exits 2 naming the problem', async () => {
    // Its own small export, imported once (in any order of the tests): a failed --fresh must leave its checkpoint whole.
    const file = await writeExport(stack.dir, 'ndjson', 20, 5_000_000);
    const done = runImporter([file.path, '--url', stack.api.url], stack.dir);
    expect((await done.exited).code, done.output()).not.toBe(2);
    const closed = await freePort();
    const nowhere = runImporter([file.path, '--url', `http://127.0.0.1:${closed}`, '--fresh'], stack.dir);
    expect((await nowhere.exited).code).toBe(2);
    expect(nowhere.output()).toMatch(new RegExp(`import: GET http://127\\.0\\.0\\.1:${closed}/docs/json kept failing for \\d s \\(last: ECONNREFUSED\\)`));
    const missing = runImporter([join(stack.dir, 'nope.csv'), '--url', stack.api.url], stack.dir);
    expect((await missing.exited).code).toBe(2);
    expect(missing.output()).toMatch(/cannot read .*nope\.csv: ENOENT/);
    const flag = runImporter(['x.txt', '--concurrency', 'many'], stack.dir);
    expect((await flag.exited).code).toBe(2);
    expect(flag.output()).toMatch(/--concurrency must be a number; cannot tell the format of x\.txt|--concurrency must be a number/);
    expect(readFileSync(`${file.path}.checkpoint.json`, 'utf8')).toContain('"complete":true');
  });
});
