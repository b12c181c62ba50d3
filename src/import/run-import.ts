// The import command: reads the input in batches of whole records, sends up to --concurrency
// batches at a time, commits each answer to the ledger (rejects, accepted, checkpoint), skips the
// batches a checkpoint already holds when resuming, and ends with a summary and the exit code.
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { createClient, type ApiClient, type BatchAnswer } from './client.ts';
import { ImportError, usageError } from './errors.ts';
import { openLedger, type Ledger, type LedgerPaths } from './ledger.ts';
import { parseOptions, USAGE, type ImportOptions } from './options.ts';
import { duration, number, type Output } from './output.ts';
import { createPool } from './pool.ts';
import { createProgress } from './progress.ts';
import { batches, openSource, type Batch } from './source.ts';
import { waitForStored, type WaitResult } from './wait.ts';

export type ImportIo = { stdin: Readable; output: Output; signal: AbortSignal; version: string };

const DEFAULT_BATCH = 1000; // the API's default API_BATCH_MAX, when its /docs/json does not say

export async function runImport(argv: string[], env: Record<string, string | undefined>, io: ImportIo): Promise<number> {
  try {
    const options = parseOptions(argv, env);
    if (options === 'help') {
      io.output.out(USAGE);
      return 0;
    }
    return await importFile(options, io);
  } catch (err) {
    if (!(err instanceof ImportError)) throw err;
    io.output.err(`import: ${err.message}`);
    if (err.code === 'USAGE' && /name one input file/.test(err.message)) io.output.err(USAGE);
    return err.exitCode;
  }
}

async function importFile(o: ImportOptions, io: ImportIo): Promise<number> {
  const retry = { note: '' };
  const client = createClient(
    { url: o.url, key: o.key, timeoutMs: o.timeoutS * 1000, retryForMs: o.retryForS * 1000, userAgent: `hemo-import/${io.version}` },
    (n) => (retry.note = n.status === 429 ? `rate limited, waiting ${Math.ceil(n.waitMs / 1000)} s` : `${n.reason}, retrying in ${Math.ceil(n.waitMs / 1000)} s`),
  );
  try {
    return await importWith(client, retry, o, io);
  } finally {
    client.close();
  }
}

async function importWith(client: ApiClient, retry: { note: string }, o: ImportOptions, io: ImportIo): Promise<number> {
  const { output } = io;
  const started = Date.now();
  const source = await openSource(o.file, o.format, io.stdin, { csvNull: o.csvNull, warn: (m) => output.err(`import: ${m}`) });
  const apiMax = await client.maxBatch();
  if (o.batchSize && apiMax && o.batchSize > apiMax) throw usageError(`--batch-size ${o.batchSize} is above the API's maximum of ${apiMax}`);
  const paths = ledgerPaths(o);
  const ledger = await openLedger(paths, { input: source.identity, format: o.format, resume: o.resume, fresh: o.fresh, batchSize: async () => o.batchSize ?? apiMax ?? DEFAULT_BATCH });
  const runId = randomBytes(4).toString('hex');
  output.out(`importing ${o.file} (${o.format}) into ${client.base}: batches of ${ledger.batchSize}, ${o.concurrency} at a time${ledger.resumed ? `, resuming after ${number(ledger.counts().records)} acknowledged records` : ''}`);

  const progress = createProgress(output, source.size);
  const atStart = ledger.counts().records;
  let dispatched = 0; // records put in flight by this run
  const shown = () => ({ sent: atStart + dispatched, accepted: ledger.counts().accepted, rejected: ledger.counts().rejected });
  progress.start({ ...shown(), note: '' });
  const pool = createPool(o.concurrency);
  let interrupted = false;
  try {
    try {
      for await (const batch of batches(source.records, ledger.batchSize)) {
        if (io.signal.aborted) {
          interrupted = true;
          break;
        }
        if (ledger.isDone(batch.index)) continue;
        const started = await pool.run(async () => {
          await sendBatch(client, ledger, batch, `import-${runId}-${batch.index}`);
          retry.note = '';
          progress.update(source.bytesRead(), { ...shown(), note: retry.note });
        });
        if (!started) break;
        dispatched += batch.items.length;
        progress.update(source.bytesRead(), { ...shown(), note: retry.note });
      }
    } finally {
      await pool.drain().finally(() => progress.stop()); // acknowledged batches reach the checkpoint even when the input fails
    }
    if (!interrupted) await ledger.finish();
  } finally {
    await ledger.close();
  }
  const counts = ledger.counts();
  const seconds = (Date.now() - started) / 1000;
  output.out(`${interrupted ? 'interrupted after' : 'done:'} ${number(counts.records)} records, ${number(counts.accepted)} accepted, ${number(counts.rejected)} rejected in ${duration(Date.now() - started)} (${number(Math.round((counts.records - atStart) / Math.max(seconds, 0.001)))} records/s this run)`);
  if (counts.rejected > 0) output.out(`rejected records (line, errors, record): ${paths.rejects}`);
  if (interrupted) {
    output.out(`continue with: --resume (checkpoint ${paths.checkpoint})`);
    return 130;
  }
  let waited: WaitResult | null = null;
  if (o.wait && counts.accepted > 0) {
    waited = await waitForStored(client, paths.accepted, counts.accepted, { concurrency: o.concurrency, timeoutMs: o.waitTimeoutS * 1000, output, signal: io.signal });
    output.out(`stored ${number(waited.stored)}, stale ${number(waited.stale)} (an equal or newer version was already stored), failed ${number(waited.failed)}, unknown ${number(waited.unknown)} (no longer kept by the API), still pending ${number(waited.pending)}`);
    for (const f of waited.failures) output.out(`  failed: line ${f.line}: ${f.error}`);
  }
  const notStored = waited ? waited.failed + waited.pending : 0;
  return counts.rejected > 0 || notStored > 0 ? 1 : 0;
}

async function sendBatch(client: ApiClient, ledger: Ledger, batch: Batch, requestId: string): Promise<void> {
  const sendable = batch.items.filter((r): r is { line: number; json: string } => 'json' in r);
  const { results, submission }: BatchAnswer = sendable.length > 0 ? await client.postBatch(sendable.map((r) => r.json), requestId) : { results: [], submission: null };
  let rejectLines = '';
  let acceptedLines = '';
  let next = 0;
  for (const item of batch.items) {
    if (!('json' in item)) {
      rejectLines += `${JSON.stringify({ line: item.line, errors: item.errors, record: item.original })}\n`;
      continue;
    }
    const result = results[next++]!;
    if ('errors' in result) rejectLines += `${JSON.stringify({ line: item.line, errors: result.errors, record: original(item.json) })}\n`;
    // Without a receipt (an older API): one status URL per record, as --wait read them before.
    else if (!submission) acceptedLines += `${JSON.stringify({ line: item.line, statusUrl: result.statusUrl })}\n`;
  }
  const accepted = results.filter((r) => 'statusUrl' in r).length;
  // With one: one line for the batch, the input line of each item it sent and which of them it refused.
  if (submission && accepted > 0) acceptedLines = `${JSON.stringify({ submission, lines: sendable.map((r) => r.line), refused: results.flatMap((r, i) => ('errors' in r ? [i] : [])) })}\n`;
  await ledger.commit(batch.index, { rejectLines, acceptedLines, counts: { records: batch.items.length, accepted, rejected: batch.items.length - accepted } });
}

/** The record as the user wrote it: parsed when it is JSON, else its text. */
function original(json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return json;
  }
}

/** By default beside the input (stdin: the current directory), never wherever the command happens to run. */
export function ledgerPaths(o: Pick<ImportOptions, "file" | "checkpoint" | "rejects">): LedgerPaths {
  const base = o.file === '-' ? 'stdin' : basename(o.file);
  const dir = o.file === '-' ? '.' : dirname(o.file);
  const checkpoint = resolve(o.checkpoint ?? join(dir, `${base}.checkpoint.json`));
  return { checkpoint, rejects: resolve(o.rejects ?? join(dir, `${base}.rejects.ndjson`)), accepted: checkpoint.replace(/(\.json)?$/, '.accepted.ndjson') };
}
