// For the import command's tests: registry exports generated in the three formats (1 % invalid, with
// the line each record starts on), the harness's app served on a real port with every batch request
// it receives recorded, the command run as a process; the whole stack of one test file (`importStack`).
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SEED_SAMPLE, PATIENT_FIELD_NAMES } from '../../src/shared/patient/patient-fields.ts';
import { afterAll, beforeAll } from 'vitest';
import { createHarness, type Harness } from './harness.ts';
import { startProcess, type Proc } from './processes.ts';
import { until } from './records.ts';

export type Format = 'ndjson' | 'json' | 'csv';
export type Export = { path: string; ids: number[]; validIds: number[]; invalid: { line: number; id: number }[] };

export const tempDir = () => mkdtempSync(join(tmpdir(), 'hemo-import-'));

/** Record i: valid, or (every 100th) broken in one of three ways, the third one per format. */
function record(id: number, i: number): { value: Record<string, unknown>; broken: 0 | 1 | 2 | null } {
  const value: Record<string, unknown> = { ...SEED_SAMPLE, id, fullname: i % 50 === 7 ? `patient ${id}\nsecond line, "quoted"` : `patient ${id}`, hn: `HN${id}` };
  if (i % 100 !== 99) return { value, broken: null };
  const kind = (Math.floor(i / 100) % 3) as 0 | 1 | 2;
  if (kind === 0) value.isactive = 999;
  else if (kind === 1) value.create_time = '2025-02-30T10:00:00';
  else value.center_id = 'three';
  return { value, broken: kind };
}

/** Writes `count` records with ids from `firstId`; a blank line or a pretty-printed record now and then. */
export async function writeExport(dir: string, format: Format, count: number, firstId: number): Promise<Export> {
  const path = join(dir, `registry-${firstId}.${format}`);
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const result: Export = { path, ids: [], validIds: [], invalid: [] };
  let line = 1;
  const put = async (text: string) => {
    await write(text);
    line += text.split('\n').length - 1;
  };
  if (format === 'json') await put('[\n');
  if (format === 'csv') await put(`${PATIENT_FIELD_NAMES.map((f) => f.toUpperCase()).join(',')}\r\n`);
  for (let i = 0; i < count; i++) {
    const id = firstId + i;
    const { value, broken } = record(id, i);
    if (format === 'ndjson' && i % 1000 === 500) await put('\n');
    const start = line;
    // The third kind of breakage: NDJSON, a line cut off (not JSON); CSV, a row short of values.
    if (format === 'ndjson') await put(`${broken === 2 ? `{"id": ${id}, "fullname": ` : JSON.stringify(value)}\n`);
    else if (format === 'json') await put(`${i % 500 === 3 ? JSON.stringify(value, null, 2) : JSON.stringify(value)}${i < count - 1 ? ',' : ''}\n`);
    else await put(`${PATIENT_FIELD_NAMES.slice(0, broken === 2 ? 5 : undefined).map((f) => csvValue(value[f])).join(',')}\r\n`);
    result.ids.push(id);
    if (broken === null) result.validIds.push(id);
    else result.invalid.push({ line: start, id });
  }
  if (format === 'json') await put(']\n');
  out.end();
  await once(out, 'close');
  return result;
}

const csvValue = (v: unknown) => (v === null || v === undefined ? '' : /[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

export type Served = { url: string; batches: { requestId: string; status: number }[]; reads: { receipts: number; statuses: number }; onBatch: (fn: (count: number, requestId: string) => void) => void };

/** Listens on a free port; records each POST /api/patients/batch (the importer's request id, the status). */
export async function serve(h: Harness): Promise<Served> {
  const batches: Served['batches'] = [];
  const reads = { receipts: 0, statuses: 0 };
  let listener = (_count: number, _requestId: string) => {};
  h.app.server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/api/submissions/')) reads.receipts++;
    if (req.method === 'GET' && req.url?.startsWith('/api/patients/jobs/')) reads.statuses++;
    if (req.method !== 'POST' || req.url !== '/api/patients/batch') return;
    const entry = { requestId: String(req.headers['x-request-id']), status: 0 };
    batches.push(entry);
    res.once('finish', () => (entry.status = res.statusCode));
    listener(batches.length, entry.requestId);
  });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, batches, reads, onBatch: (fn) => (listener = fn) };
}

/** A worker process on the harness's queue and database: its own core, apart from the API's event loop. */
export function workerFor(h: Harness, env: Record<string, string> = {}): Proc {
  const { REDIS_URL, MONGO_URL, MONGO_DB, QUEUE_NAME } = h.config;
  return startProcess('worker', { REDIS_URL, MONGO_URL, MONGO_DB, QUEUE_NAME, LOG_LEVEL: 'warn', MONGO_TIMEOUT_MS: String(h.config.MONGO_TIMEOUT_MS), ...env });
}

/** Ends a process this test started and waits for it. */
export async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.exited;
}

/**
 * Waits until the worker has taken every job off the queue (read in Redis: polling MongoDB with a
 * count while FerretDB is busy writing slows it down further), so MongoDB can be checked once.
 */
export async function drained(h: Harness, timeoutMs: number, worker?: Proc): Promise<void> {
  const read = async () => ({ jobs: await h.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), worker: worker?.output().slice(-1500) });
  await until('the queue to drain', timeoutMs, async () => Object.values((await read()).jobs).every((n) => n === 0), 200, read);
}

/**
 * The ids stored in [first, first + count), sorted. A FerretDB busy with other test files can let
 * one read time out: the read is tried again (bounded), and a lasting failure names the error.
 */
export async function storedIds(h: Harness, first: number, count: number, timeoutMs = 180_000): Promise<number[]> {
  let ids: number[] = [];
  await until('MongoDB to answer the stored ids', timeoutMs, async () => {
    ids = ((await h.store.patients.distinct('id', { id: { $gte: first, $lt: first + count } })) as number[]).sort((a, b) => a - b);
    return true;
  }, 200);
  return ids;
}

/** Runs `node src/import/main.ts ...args` in `cwd`. */
export function runImporter(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  return startProcess('import', env, args, cwd);
}

export const readNdjson = <T>(path: string): T[] => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/** The peak resident set (VmHWM) of a running process, in bytes; null once it has exited. */
export function peakRss(pid: number): number | null {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

export type ImportStack = { h: Harness; api: Served; worker: Proc; dir: string };

/**
 * The stack an import test file runs against: the harness (its app served on a real port, every
 * batch request recorded), a worker process, a temporary directory; all removed after the file.
 * The fields are filled in `beforeAll`.
 */
export function importStack(overrides: Record<string, string>): ImportStack {
  const stack = { dir: tempDir() } as ImportStack;
  beforeAll(async () => {
    stack.h = await createHarness({ LOG_LEVEL: 'warn', MONGO_TIMEOUT_MS: '60000', ...overrides });
    stack.worker = workerFor(stack.h);
    stack.api = await serve(stack.h);
  });
  // Dropping a large database on a busy FerretDB can take a while.
  afterAll(async () => {
    if (stack.worker) await stop(stack.worker);
    await stack.h?.close();
    rmSync(stack.dir, { recursive: true, force: true });
  }, 180_000);
  return stack;
}
