import type { JobsOptions } from 'bullmq';
import type { Config } from './config.ts';

/** What travels through Redis: the client's fields (known names only, raw values) and when we got them. */
export type PatientJobData = {
  patient: Record<string, unknown>;
  /** Epoch ms when the API accepted the record: the tie-breaker after modify_time. */
  receivedAt: number;
  /** Id of the API key that submitted it: for the audit trail and job-status access. */
  submittedBy?: string;
};

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
