// --wait: reads the accepted file and asks the API until every accepted record is stored, skipped as
// stale or failed. A line per batch names its receipt (`submission`): one GET says how the whole batch
// went, so following an import costs a request per batch, not per record. A line per record (an
// API without receipts) names its status URL. URLs are opaque: they are followed as the API gave
// them. A 404 means the API no longer keeps the submission or job (retention): unknown.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import cliProgress from 'cli-progress';
import type { ApiClient } from './client.ts';
import { number, type Output } from './output.ts';
import { createPool } from './pool.ts';

export type WaitCounts = { stored: number; stale: number; failed: number; unknown: number; pending: number };
export type WaitResult = WaitCounts & { failures: { line: number; error: string }[] };

type BatchEntry = { submission: string; lines: number[]; refused: number[] };
const FINAL: Record<string, keyof WaitCounts> = { stored: 'stored', 'skipped-as-stale': 'stale', failed: 'failed' };
const SHOWN_FAILURES = 20;

export async function waitForStored(client: ApiClient, acceptedFile: string, total: number, o: { concurrency: number; timeoutMs: number; output: Output; signal: AbortSignal }): Promise<WaitResult> {
  const result: WaitResult = { stored: 0, stale: 0, failed: 0, unknown: 0, pending: 0, failures: [] };
  const deadline = Date.now() + o.timeoutMs;
  const bar = new cliProgress.SingleBar({
    stream: o.output.progressStream as NodeJS.WritableStream,
    format: `waiting ${o.output.progressStream.isTTY ? '{bar} ' : ''}{value}/{total} | {stored} stored | {stale} stale | {failed} failed | {unknown} unknown`,
    noTTYOutput: true, notTTYSchedule: 5000, fps: 5, hideCursor: true, gracefulExit: false,
  }, cliProgress.Presets.shades_classic);
  const payload = () => ({ stored: number(result.stored), stale: number(result.stale), failed: number(result.failed), unknown: number(result.unknown) });
  let checked = 0;
  bar.start(total, 0, payload());

  /** A batch: its receipt until complete; what the importer already counted as refused is left out. */
  async function settleBatch(entry: BatchEntry) {
    const refused = new Set(entry.refused);
    const accepted = entry.lines.length - refused.size;
    // Polled more often than a record's status: one GET answers for a whole batch, so following a
    // backfill closely costs a request per batch every half second at most.
    for (let delay = 100; ; delay = Math.min(500, delay * 1.5)) {
      const receipt = await client.receipt(entry.submission);
      if (!receipt) {
        result.unknown += accepted;
        checked += accepted;
        return;
      }
      if (receipt.complete || Date.now() + delay > deadline || o.signal.aborted) {
        const c = receipt.counts;
        const failures = receipt.notLanded.filter((n) => !refused.has(n.index));
        result.stored += c.inserted + c.updated + c.unchanged;
        result.stale += c.stale;
        result.failed += failures.length;
        result.pending += c.queued + c.active;
        for (const f of failures.slice(0, Math.max(0, SHOWN_FAILURES - result.failures.length))) result.failures.push({ line: entry.lines[f.index] ?? -1, error: f.code });
        checked += accepted;
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async function settle(entry: { line: number; statusUrl: string }) {
    for (let delay = 200; ; delay = Math.min(2000, delay * 1.5)) {
      const status = await client.status(entry.statusUrl);
      const outcome = status ? FINAL[status.state] : 'unknown';
      if (outcome) {
        result[outcome]++;
        if (outcome === 'failed' && result.failures.length < SHOWN_FAILURES) result.failures.push({ line: entry.line, error: status?.error ?? 'failed' });
        return;
      }
      if (Date.now() + delay > deadline || o.signal.aborted) {
        result.pending++;
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  const pool = createPool(o.concurrency);
  try {
    const lines = createInterface({ input: createReadStream(acceptedFile), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text === '') continue;
      const entry = JSON.parse(text) as { line: number; statusUrl: string } | BatchEntry;
      const settled = () => ('submission' in entry ? settleBatch(entry) : settle(entry).then(() => void checked++));
      const started = await pool.run(() => settled().then(() => bar.update(checked, payload())));
      if (!started) break;
    }
    await pool.drain();
  } finally {
    bar.stop();
  }
  return result;
}
