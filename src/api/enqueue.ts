import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { QueueUnavailableError, withTimeout } from '../shared/errors.ts';
import { JOB_NAME, recordRef, type PatientJobData, type PatientJobResult, type PatientRecord } from '../shared/queue.ts';

export type PatientQueue = Queue<PatientJobData, PatientJobResult>;

export const statusUrl = (ref: string) => `/api/patients/jobs/${ref}`;

export type EnqueuerOptions = {
  queue: PatientQueue;
  /** A job holds at most this many records and about this many bytes of them. */
  maxRecords: number;
  maxBytes: number;
  timeoutMs: number;
  log: FastifyBaseLogger;
  /** The submitter's W3C trace context (tracing on): stamped on its records, so the worker links to it. */
  traceparent?: () => string | undefined;
};

export type Enqueuer = {
  /**
   * Resolves with one reference per record (`<jobId>-<index>`) once Redis has the job(s) holding
   * them; rejects with QueueUnavailableError (503) if Redis failed or was slower than `timeoutMs`.
   */
  submit: (records: PatientRecord[], bytes: number) => Promise<string[]>;
  /** Mean records per job over what this process enqueued: turns a queue depth in jobs into records. */
  recordsPerJob: () => number;
  /** Sends what is pending now (shutdown). */
  flush: () => void;
};

type Waiter = { start: number; count: number; resolve: (refs: string[]) => void; reject: (err: unknown) => void };
type Group = { records: PatientRecord[]; bytes: number; waiters: Waiter[] };

/**
 * Group commit for the intake: the records submitted during one event-loop turn (concurrent single
 * requests, small batches) become ONE job, acknowledged by one Redis script, instead of a script
 * per record. Each submitter still waits until Redis has its record. A submission too big to share
 * a job is split into jobs of at most maxRecords / maxBytes, added in one round trip.
 */
export function createEnqueuer({ queue, maxRecords, maxBytes, timeoutMs, log, traceparent }: EnqueuerOptions): Enqueuer {
  let open: Group | undefined;
  let scheduled = false;
  let jobs = 0;
  let records = 0;

  const send = (groups: Group[]) => {
    jobs += groups.length;
    for (const g of groups) records += g.records.length;
    const adding =
      groups.length === 1
        ? queue.add(JOB_NAME, { records: groups[0]!.records }).then((job) => [job])
        : queue.addBulk(groups.map((g) => ({ name: JOB_NAME, data: { records: g.records } })));
    withTimeout(adding, timeoutMs, () => new QueueUnavailableError()).then(
      (added) =>
        groups.forEach((g, i) => {
          const jobId = String(added[i]!.id);
          for (const w of g.waiters) w.resolve(Array.from({ length: w.count }, (_, k) => recordRef(jobId, w.start + k)));
        }),
      (err: unknown) => {
        log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, jobs: groups.length }, 'enqueue failed');
        for (const g of groups) for (const w of g.waiters) w.reject(new QueueUnavailableError());
      },
    );
  };

  const flush = () => {
    scheduled = false;
    const group = open;
    open = undefined;
    if (group) send([group]);
  };

  const join = (group: Group, list: PatientRecord[], bytes: number, waiter: Omit<Waiter, 'start' | 'count'>) => {
    group.waiters.push({ ...waiter, start: group.records.length, count: list.length });
    for (const r of list) group.records.push(r);
    group.bytes += bytes;
  };

  const submit = (list: PatientRecord[], bytes: number) =>
    new Promise<string[]>((resolve, reject) => {
      if (list.length === 0) return resolve([]);
      // A job holds the records of many requests; each record names its own request's trace.
      const trace = traceparent?.();
      if (trace) for (const record of list) record.traceparent = trace;
      if (list.length >= maxRecords || bytes >= maxBytes) return sendAlone(list, bytes, resolve, reject);
      if (open && (open.records.length + list.length > maxRecords || open.bytes + bytes > maxBytes)) flush();
      open ??= { records: [], bytes: 0, waiters: [] };
      join(open, list, bytes, { resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // After the I/O of this turn: every request parsed in it shares the job.
        setImmediate(flush);
      }
    });

  /** A big submission: its own jobs, each within the bounds, in one addBulk; one answer for all. */
  const sendAlone = (list: PatientRecord[], bytes: number, resolve: (refs: string[]) => void, reject: (err: unknown) => void) => {
    const perRecord = bytes / list.length;
    const size = Math.max(1, Math.min(maxRecords, Math.floor(maxBytes / Math.max(perRecord, 1))));
    const groups: Group[] = [];
    const parts: string[][] = [];
    let pending = 0;
    let failed = false;
    for (let start = 0; start < list.length; start += size) {
      const chunk = list.slice(start, start + size);
      const at = groups.length;
      pending++;
      const group: Group = { records: [], bytes: 0, waiters: [] };
      join(group, chunk, chunk.length * perRecord, {
        resolve: (refs) => {
          parts[at] = refs;
          if (--pending === 0 && !failed) resolve(parts.flat());
        },
        reject: (err) => {
          if (!failed) reject(err);
          failed = true;
        },
      });
      groups.push(group);
    }
    send(groups);
  };

  return { submit, recordsPerJob: () => (jobs === 0 ? 1 : records / jobs), flush };
}
