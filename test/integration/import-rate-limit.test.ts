import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';
import { drained, runImporter, storedIds, serve, stop, tempDir, workerFor, writeExport, type Served } from '../support/import.ts';
import type { Proc } from '../support/processes.ts';

// Issue 13: a rate limit far below what the importer would send; it waits for Retry-After and completes.

let h: Harness;
let api: Served;
let worker: Proc;
const dir = tempDir();

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '1000', LOG_LEVEL: 'warn', MONGO_TIMEOUT_MS: '60000' });
  worker = workerFor(h);
  api = await serve(h);
});
// Dropping a large database on a busy FerretDB can take a while.
afterAll(async () => {
  await stop(worker);
  await h.close();
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe('import under a rate limit', () => {
  it('when the API answers 429 with Retry-After, then the importer waits and still sends every batch once', async () => {
    const file = await writeExport(dir, 'ndjson', 3000, 8_000_000);
    const run = runImporter([file.path, '--url', api.url, '--batch-size', '100', '--concurrency', '4'], dir);
    expect((await run.exited).code, run.output()).toBe(1);
    expect(run.output()).toContain(`3,000 records, ${file.validIds.length.toLocaleString('en-US')} accepted, ${file.invalid.length} rejected`);
    expect(api.batches.filter((b) => b.status === 429).length).toBeGreaterThan(0);
    const ok = api.batches.filter((b) => b.status === 202).map((b) => Number(b.requestId.split('-').at(-1)));
    expect(ok.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await drained(h, 120_000, worker);
    expect(await storedIds(h, 8_000_000, 3000)).toEqual(file.validIds);
  }, 300_000);
});
