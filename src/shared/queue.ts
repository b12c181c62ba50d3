import type { JobsOptions, Queue } from 'bullmq';
import type { Config } from './config/config.ts';
import { partitionQueueNames } from './partitions.ts';

// A queue job is a BATCH of records: concurrent single submissions coalesced by the API, or one
// batch request. One Redis script acknowledges the whole group; each record keeps its own status
// (`<jobId>-<index>`) and its own outcome in the job's return value.

/** One accepted record: the validated patient (normalized, dates in UTC) and who sent it when. */
export type PatientRecord = {
  patient: Record<string, unknown>;
  /** Epoch ms when the API accepted the record: the tie-breaker after modify_time. */
  receivedAt: number;
  /** Id of the API key that submitted it: for the audit trail and status access. */
  submittedBy?: string;
  /**
   * What that key may write. The API and the worker check the record's OWN center against it; a
   * stored record of another center is never consulted: the `(center_id, id)` key keeps each
   * center's records apart. Absent (other producers, development mode, admin): no restriction.
   */
  tenant?: Tenant;
  /**
   * W3C trace context of the request that sent it, when tracing is on: a job holds the records of
   * many requests, so the worker's job span links to each (src/shared/tracing/tracing.ts). Optional: jobs
   * from before tracing, or from other producers, have none.
   */
  traceparent?: string;
};

export type PatientJobData = { records: PatientRecord[] };

export type Tenant = { centers: number[]; clusters: number[] };

export function tenantAllows(tenant: Tenant | undefined, record: { center_id?: number | null; cluster_id?: number | null }): boolean {
  if (!tenant) return true;
  return (record.center_id != null && tenant.centers.includes(record.center_id)) || (record.cluster_id != null && tenant.clusters.includes(record.cluster_id));
}

export type WriteOutcome = 'inserted' | 'updated' | 'unchanged' | 'stale';
export type RecordOutcome = WriteOutcome | 'rejected';
/** Index-aligned with the job's records. `code`/`message` for `rejected`: our own text (field paths, rules), never a value. */
export type RecordResult = { outcome: RecordOutcome; patientId: number | null; code?: string; message?: string };
export type PatientJobResult = { results: RecordResult[] };

/** The results a job has decided so far, kept in its progress across retries (job-handler.ts); [] for anything else. */
export function decidedOf(progress: unknown): (RecordResult | null | undefined)[] {
  const decided = typeof progress === 'object' && progress !== null ? (progress as { decided?: unknown }).decided : undefined;
  return Array.isArray(decided) ? (decided as (RecordResult | null)[]) : [];
}

export const JOB_NAME = 'patient.batch';
/** Jobs of the one-record-per-job shape (before record batches) are still taken: see recordsOf. */
export const LEGACY_JOB_NAME = 'patient.upsert';

/** The records of a job, also of a legacy one-record job (`{patient, receivedAt, …}`) still queued at an upgrade. */
export function recordsOf(data: unknown): unknown[] {
  if (typeof data !== 'object' || data === null) return [data];
  const { records } = data as { records?: unknown };
  return Array.isArray(records) ? records : [data];
}

/** A record's own reference, e.g. `1234-7`: job 1234, record 7 (URL-safe, no search needed). */
export const recordRef = (jobId: string, index: number) => `${jobId}-${index}`;

/**
 * The reference the API hands out: with several queue partitions it names the partition first
 * (`p3-1234-7`), so a status read goes straight to that queue; with one, the form stays `1234-7`.
 */
export const partitionedRef = (partition: number, partitions: number, ref: string) => (partitions === 1 ? ref : `p${partition}-${ref}`);

export function parseRecordRef(ref: string): { partition: number; jobId: string; index: number } | undefined {
  const m = /^(?:p(\d{1,4})-)?(\d{1,20})(?:-(\d{1,6}))?$/.exec(ref);
  return m ? { partition: m[1] === undefined ? 0 : Number(m[1]), jobId: m[2]!, index: m[3] === undefined ? 0 : Number(m[3]) } : undefined;
}

export type QueueSettings = { name: string; prefix: string; jobOptions: JobsOptions; names: string[] };

/** `names`: the queue of each partition (index = partition); `name`: partition 0's. */
export function queueSettings(config: Config): QueueSettings {
  const names = partitionQueueNames({ name: config.QUEUE_NAME, count: config.QUEUE_PARTITIONS, cluster: config.REDIS_CLUSTER_NODES.length > 0 });
  return {
    name: names[0]!,
    names,
    prefix: config.QUEUE_PREFIX,
    jobOptions: {
      attempts: config.JOB_ATTEMPTS,
      backoff: { type: 'exponential', delay: config.JOB_BACKOFF_MS, jitter: 0.5 },
      // Bounded Redis memory; failures also live on in MongoDB's dead-letter collection.
      removeOnComplete: { count: config.JOB_KEEP_COMPLETED, age: config.JOB_KEEP_COMPLETED_AGE_S },
      removeOnFail: { count: config.JOB_KEEP_FAILED, age: config.JOB_KEEP_FAILED_AGE_S },
    },
  };
}

/** An id-like value from job data (which other producers may have filled badly) as a number, else null. */
export function idOf(value: unknown): number | null {
  return value !== null && value !== '' && Number.isSafeInteger(Number(value)) ? Number(value) : null;
}

/** One partition's queue, as the API, the CLIs and the worker's producers hold it. */
export type PatientQueue = Queue<PatientJobData, PatientJobResult>;
