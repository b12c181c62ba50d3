import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drained, readNdjson, storedIds, runImporter, writeExport, importStack } from '../support/import.ts';

// Issue 13: an import killed (SIGKILL) halfway and run again with --resume stores everything and
// never sends a batch again that the checkpoint had as acknowledged. The API counts the batch
// requests it receives, each named by the importer's request id (import-<run>-<batch index>).

const COUNT = 20_000;
const BATCH = 500;
const BATCHES = COUNT / BATCH;
const stack = importStack({ API_BATCH_MAX: String(BATCH), RATE_LIMIT_MAX: '1000000', API_ENQUEUE_TIMEOUT_MS: '10000' });

const batchOf = (requestId: string) => Number(requestId.split('-').at(-1));

describe('import --resume after a kill', () => {
  it('when the importer is killed halfway and resumed, then every valid record is stored and no acknowledged batch is sent again', async () => {
    const file = await writeExport(stack.dir, 'csv', COUNT, 5_000_000);
    const first = runImporter([file.path, '--url', stack.api.url, '--concurrency', '2'], stack.dir);
    stack.api.onBatch((n) => {
      if (n === BATCHES / 2) first.child.kill('SIGKILL');
    });
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    stack.api.onBatch(() => {});
    const firstRun = stack.api.batches.length;

    const checkpoint = JSON.parse(readFileSync(join(stack.dir, 'registry-5000000.csv.checkpoint.json'), 'utf8')) as { done: number; ahead: number[]; complete: boolean; batchSize: number };
    const acknowledged = new Set([...Array.from({ length: checkpoint.done }, (_, i) => i), ...checkpoint.ahead]);
    expect(checkpoint).toMatchObject({ complete: false, batchSize: BATCH });
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(acknowledged.size).toBeLessThan(BATCHES);

    // The batches in flight at the kill reached the API and are sent again on resume (the importer
    // never saw their answers): the worker then holds two jobs with the same patients, newest wins.
    const second = runImporter([file.path, '--url', stack.api.url, '--concurrency', '2', '--resume'], stack.dir);
    expect((await second.exited).code, second.output()).toBe(1);
    expect(second.output()).toContain(`resuming after ${(acknowledged.size * BATCH).toLocaleString('en-US')} acknowledged records`);
    expect(second.output()).toContain(`20,000 records, ${file.validIds.length.toLocaleString('en-US')} accepted, ${file.invalid.length} rejected`);

    const resent = stack.api.batches.slice(firstRun).map((b) => batchOf(b.requestId)).filter((i) => acknowledged.has(i));
    expect(resent).toEqual([]);
    // Each batch acknowledged once over both runs, apart from those in flight at the kill (at most 2).
    const ok = stack.api.batches.filter((b) => b.status === 202).map((b) => batchOf(b.requestId));
    expect(new Set(ok).size).toBe(BATCHES);
    expect(ok.length).toBeLessThanOrEqual(BATCHES + 2);

    // The rejects file holds each invalid record once: what the killed run wrote after its last checkpoint was cut off.
    const rejects = readNdjson<{ line: number }>(join(stack.dir, 'registry-5000000.csv.rejects.ndjson')).map((r) => r.line).sort((a, b) => a - b);
    expect(rejects).toEqual(file.invalid.map((r) => r.line));

    await drained(stack.h, 300_000, stack.worker);
    expect(await storedIds(stack.h, 5_000_000, COUNT)).toEqual(file.validIds);
  }, 480_000);

  it('when a checkpoint of an unfinished import exists, then a run without --resume or --fresh exits 2, and --resume of another file is refused', async () => {
    const file = await writeExport(stack.dir, 'ndjson', 3000, 6_000_000);
    const first = runImporter([file.path, '--url', stack.api.url, '--batch-size', '100', '--concurrency', '1'], stack.dir);
    stack.api.onBatch((_n, requestId) => {
      if (batchOf(requestId) === 3) first.child.kill('SIGKILL');
    });
    await first.exited;
    stack.api.onBatch(() => {});
    const again = runImporter([file.path, '--url', stack.api.url], stack.dir);
    expect((await again.exited).code).toBe(2);
    expect(again.output()).toMatch(/registry-6000000\.ndjson\.checkpoint\.json holds an unfinished import .*add --resume to continue it, or --fresh to start over/);
    const other = await writeExport(stack.dir, 'ndjson', 10, 7_000_000);
    const wrong = runImporter([other.path, '--url', stack.api.url, '--resume', '--checkpoint', join(stack.dir, 'registry-6000000.ndjson.checkpoint.json')], stack.dir);
    expect((await wrong.exited).code).toBe(2);
    expect(wrong.output()).toMatch(/--resume: the input is not the file \(or format\) that .* was made for/);
  });
});
