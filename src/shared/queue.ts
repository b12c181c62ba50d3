import type { JobsOptions } from 'bullmq';
import type { Config } from './config.ts';

/** What travels through Redis: the validated record (normalized, dates in UTC) and when we got it. */
export type PatientJobData = {
  patient: Record<string, unknown>;
  /** Epoch ms when the API accepted the record: the tie-breaker after modify_time. */
  receivedAt: number;
  /** Id of the API key that submitted it: for the audit trail and job-status access. */
  submittedBy?: string;
  /**
   * What that key may write. The API checks the incoming record's center; the worker checks the
   * STORED record's, so a key cannot take over another center's patient by reusing its id.
   * Absent (other producers, development mode): no restriction.
   */
  tenant?: Tenant;
};

export type Tenant = { centers: number[]; clusters: number[] };

export function tenantAllows(tenant: Tenant | undefined, record: { center_id?: number | null; cluster_id?: number | null }): boolean {
  if (!tenant) return true;
  return (record.center_id != null && tenant.centers.includes(record.center_id)) || (record.cluster_id != null && tenant.clusters.includes(record.cluster_id));
}

export type WriteOutcome = 'inserted' | 'updated' | 'unchanged' | 'stale';
export type PatientJobResult = { outcome: WriteOutcome; patientId: number };

export const JOB_NAME = 'patient.upsert';

export type QueueSettings = { name: string; prefix: string; jobOptions: JobsOptions };

export function queueSettings(config: Config): QueueSettings {
  return {
    name: config.QUEUE_NAME,
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
