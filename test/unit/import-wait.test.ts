import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiClient, ReceiptAnswer } from '../../src/import/client.ts';
import { waitForStored } from '../../src/import/wait.ts';

// --wait on receipts (issue 24): a batch line of the accepted file names its receipt; what the receipt
// says did not land is reported by the input line it came from, and the items the importer already
// counted as refused are not counted again.
const dir = mkdtempSync(join(tmpdir(), 'wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const counts = (c: Partial<ReceiptAnswer['counts']>) => ({ queued: 0, active: 0, inserted: 0, updated: 0, unchanged: 0, stale: 0, rejected: 0, failed: 0, ...c });
const output = { out: () => {}, err: () => {}, progressStream: new PassThrough() };

function run(lines: object[], answers: Record<string, (ReceiptAnswer | null)[]>, total: number) {
  const file = join(dir, `${Math.random()}.ndjson`);
  writeFileSync(file, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const asked: string[] = [];
  const client = { receipt: async (url: string) => (asked.push(url), answers[url]!.length > 1 ? answers[url]!.shift()! : answers[url]![0]!) } as unknown as ApiClient;
  return { asked, result: waitForStored(client, file, total, { concurrency: 2, timeoutMs: 30_000, output, signal: new AbortController().signal }) };
}

describe('import --wait on receipts', () => {
  it('when a receipt is undecided at first and then complete, then its outcomes are counted once, and each record that did not land is named by its input line', async () => {
    const { asked, result } = run(
      [{ submission: '/api/submissions/s-a', lines: [10, 11, 12, 13, 14], refused: [1] }],
      {
        '/api/submissions/s-a': [
          { complete: false, counts: counts({ queued: 4, rejected: 1 }), notLanded: [{ index: 1, code: 'PATIENT_INVALID' }] },
          { complete: true, counts: counts({ inserted: 1, updated: 1, stale: 1, rejected: 2 }), notLanded: [{ index: 1, code: 'PATIENT_INVALID' }, { index: 4, code: 'FORBIDDEN_TENANT' }] },
        ],
      },
      4,
    );
    expect(await result).toEqual({ stored: 2, stale: 1, failed: 1, unknown: 0, pending: 0, failures: [{ line: 14, error: 'FORBIDDEN_TENANT' }] });
    expect(asked).toEqual(['/api/submissions/s-a', '/api/submissions/s-a']);
  });

  it('when a receipt is no longer kept (404), then its accepted records count as unknown', async () => {
    const { result } = run([{ submission: '/api/submissions/s-b', lines: [1, 2, 3], refused: [] }], { '/api/submissions/s-b': [null] }, 3);
    expect(await result).toMatchObject({ stored: 0, unknown: 3, failed: 0, pending: 0 });
  });
});
