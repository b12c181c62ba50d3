import type { FastifyBaseLogger } from 'fastify';
import { AppError, errorSummary, QueueUnavailableError, withTimeout } from '../../shared/errors.ts';
import { JOB_NAME, recordRef, type PatientQueue, type PatientRecord } from '../../shared/queue.ts';
import type { ConfirmReplicas } from '../../shared/replica-wait.ts';

// One partition's group commit (src/api/intake/enqueue.ts splits the records by partition first).

export type QueueEnqueuerOptions = {
  /** A job holds at most this many records and about this many bytes of them. */
  maxRecords: number;
  maxBytes: number;
  timeoutMs: number;
  log: FastifyBaseLogger;
  /** REDIS_WAIT_REPLICAS: resolves once replicas have the queue's writes; rejects (503) otherwise. */
  confirm?: ConfirmReplicas;
};

type Waiter = { start: number; count: number; resolve: (refs: string[]) => void; reject: (err: unknown) => void };
type Group = { records: PatientRecord[]; bytes: number; waiters: Waiter[] };

export type QueueEnqueuer = {
  /**
   * One reference per record (`<jobId>-<index>`) once Redis has the job(s) holding them. `deadline`
   * (epoch ms, default now + timeoutMs): the submitter's own bound, which may already be partly spent.
   */
  submit: (records: PatientRecord[], bytes: number, deadline?: number) => Promise<string[]>;
  flush: () => void;
  counts: () => { jobs: number; records: number };
};

/**
 * Group commit for the intake (one partition's queue): the records submitted during one event-loop turn (concurrent single
 * requests, small batches) become ONE job, acknowledged by one Redis script, instead of a script
 * per record. Each submitter still waits until Redis has its record. A submission too big to share
 * a job is split into jobs of at most maxRecords / maxBytes, added in one round trip.
 */
export function createQueueEnqueuer(queue: PatientQueue, { maxRecords, maxBytes, timeoutMs, log, confirm }: QueueEnqueuerOptions): QueueEnqueuer {
  let open: Group | undefined;
  let scheduled = false;
  let jobs = 0;
  let records = 0;

  const send = (groups: Group[]) => {
    jobs += groups.length;
    for (const g of groups) records += g.records.length;
    // Noted before the write: the replicas' confirmation must come over the connection that wrote.
    const confirming = confirm?.(queue);
    confirming?.catch(() => {}); // its failure is the confirmation's, below
    const adding =
      groups.length === 1
        ? queue.add(JOB_NAME, { records: groups[0]!.records }).then((job) => [job])
        : queue.addBulk(groups.map((g) => ({ name: JOB_NAME, data: { records: g.records } })));
    // Every submitter's own deadline ends before this bound (each is at most timeoutMs after its submit).
    const confirmed = withTimeout(adding, timeoutMs, () => new QueueUnavailableError()).then(async (added) => (confirming ? (await (await confirming)(), added) : added));
    confirmed.then(
      (added) =>
        groups.forEach((g, i) => {
          const jobId = String(added[i]!.id);
          for (const w of g.waiters) w.resolve(Array.from({ length: w.count }, (_, k) => recordRef(jobId, w.start + k)));
        }),
      (err: unknown) => {
        log.warn({ err: errorSummary(err), jobs: groups.length, queue: queue.name }, 'enqueue failed');
        const answer = err instanceof AppError ? err : new QueueUnavailableError();
        for (const g of groups) for (const w of g.waiters) w.reject(answer);
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

  // Each submitter is answered within its own deadline (a request that spent most of its bound on
  // the depth read does not cut short the others that share its job).
  const submit = (list: PatientRecord[], bytes: number, deadline = Date.now() + timeoutMs) => {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new QueueUnavailableError());
    return withTimeout(joined(list, bytes), left, () => new QueueUnavailableError());
  };

  const joined = (list: PatientRecord[], bytes: number) =>
    new Promise<string[]>((resolve, reject) => {
      if (list.length === 0) return resolve([]);
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

  return { submit, counts: () => ({ jobs, records }), flush };
}
