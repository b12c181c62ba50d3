import { partitionOf } from '../../shared/partitions.ts';
import { partitionedRef, type PatientQueue, type PatientRecord } from '../../shared/queue.ts';
import { createQueueEnqueuer, type QueueEnqueuerOptions } from './queue-enqueuer.ts';

export const statusUrl = (ref: string) => `/api/patients/jobs/${ref}`;

export type EnqueuerOptions = QueueEnqueuerOptions & {
  /** One queue per partition (index = partition). */
  queues: PatientQueue[];
  /** The submitter's W3C trace context (tracing on): stamped on its records, so the worker links to it. */
  traceparent?: () => string | undefined;
};

export type Enqueuer = {
  /**
   * Resolves with one reference per record (`<jobId>-<index>`, `p<partition>-<jobId>-<index>` with
   * several partitions) once Redis has the job(s) holding
   * them; rejects with QueueUnavailableError (503) if Redis failed or was slower than `timeoutMs`
   * (or than `deadline`, epoch ms, when the caller has already spent part of that bound).
   */
  submit: (records: PatientRecord[], bytes: number, deadline?: number) => Promise<string[]>;
  /** Mean records per job over what this process enqueued: turns a queue depth in jobs into records. */
  recordsPerJob: () => number;
  /** Sends what is pending now (shutdown). */
  flush: () => void;
};

/**
 * Records are split by partition (the patient's), and each partition coalesces its own jobs:
 * a job never mixes partitions. The references come back in the order of the records.
 */
export function createEnqueuer(o: EnqueuerOptions): Enqueuer {
  const parts = o.queues.map((queue) => createQueueEnqueuer(queue, o));
  const n = parts.length;
  const submit = async (list: PatientRecord[], bytes: number, deadline?: number): Promise<string[]> => {
    // A job holds the records of many requests; each record names its own request's trace.
    const trace = o.traceparent?.();
    if (trace) for (const record of list) record.traceparent = trace;
    if (n === 1) return parts[0]!.submit(list, bytes, deadline);
    const byPartition = new Map<number, number[]>();
    list.forEach((r, i) => {
      const p = partitionOf(r.patient, n);
      byPartition.get(p)?.push(i) ?? byPartition.set(p, [i]);
    });
    const refs = new Array<string>(list.length);
    await Promise.all(
      [...byPartition].map(async ([p, at]) => {
        const got = await parts[p]!.submit(at.map((i) => list[i]!), (bytes * at.length) / list.length, deadline);
        at.forEach((i, k) => (refs[i] = partitionedRef(p, n, got[k]!)));
      }),
    );
    return refs;
  };
  return {
    submit,
    recordsPerJob: () => {
      const jobs = parts.reduce((sum, p) => sum + p.counts().jobs, 0);
      return jobs === 0 ? 1 : parts.reduce((sum, p) => sum + p.counts().records, 0) / jobs;
    },
    flush: () => parts.forEach((p) => p.flush()),
  };
}
