import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';
import { peakRss, runImporter, serve, tempDir, writeExport, type Served } from '../support/import.ts';

// Issue 13: memory stays flat whatever the file size. A 200,000-record JSON array (~140 MB; the
// format whose parser could most easily hold everything) goes through the real API into Redis, and
// the importer's peak resident set (VmHWM in /proc/<pid>/status) stays under 150 MB. No worker:
// what is measured is the importer; the queue keeps the jobs until the harness removes them.

const COUNT = 200_000;
const LIMIT = 150 * 1024 * 1024;
let h: Harness;
let api: Served;
const dir = tempDir();

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_MAX: '1000000', API_ENQUEUE_TIMEOUT_MS: '10000', QUEUE_MAX_WAITING: '10000000', LOG_LEVEL: 'warn' });
  api = await serve(h);
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe('import memory', () => {
  it('when 200,000 records are imported, then the importer peak RSS stays under 150 MB', async () => {
    const file = await writeExport(dir, 'json', COUNT, 10_000_000);
    const run = runImporter([file.path, '--url', api.url], dir);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, peakRss(run.child.pid!) ?? 0)), 100);
    const { code } = await run.exited.finally(() => clearInterval(sampler));
    expect(code, run.output()).toBe(1);
    expect(run.output()).toContain(`200,000 records, ${file.validIds.length.toLocaleString('en-US')} accepted, ${file.invalid.length.toLocaleString('en-US')} rejected`);
    expect(peak).toBeGreaterThan(20 * 1024 * 1024); // the sampler saw the process running
    expect(peak).toBeLessThan(LIMIT);
    process.stdout.write(`importer peak RSS for ${COUNT} records: ${(peak / 1024 / 1024).toFixed(1)} MB\n`);
  }, 300_000);
});
