import { describe, expect, it } from 'vitest';
import { drained, runImporter, storedIds, writeExport, importStack } from '../support/import.ts';

// Issue 13: a rate limit far below what the importer would send; it waits for Retry-After and completes.

const stack = importStack({ RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '1000' });

describe('import under a rate limit', () => {
  it('when the API answers 429 with Retry-After, then the importer waits and still sends every batch once', async () => {
    const file = await writeExport(stack.dir, 'ndjson', 3000, 8_000_000);
    const run = runImporter([file.path, '--url', stack.api.url, '--batch-size', '100', '--concurrency', '4'], stack.dir);
    expect((await run.exited).code, run.output()).toBe(1);
    expect(run.output()).toContain(`3,000 records, ${file.validIds.length.toLocaleString('en-US')} accepted, ${file.invalid.length} rejected`);
    expect(stack.api.batches.filter((b) => b.status === 429).length).toBeGreaterThan(0);
    const ok = stack.api.batches.filter((b) => b.status === 202).map((b) => Number(b.requestId.split('-').at(-1)));
    expect(ok.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await drained(stack.h, 120_000, stack.worker);
    expect(await storedIds(stack.h, 8_000_000, 3000)).toEqual(file.validIds);
  }, 300_000);
});
