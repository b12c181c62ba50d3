import type { Job } from 'bullmq';
import { idOf, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import type { AuditLog } from './audit.ts';
import type { JobError } from './job-errors.ts';
import type { WorkerMetrics } from './metrics.ts';

// What the worker reports about each job: metrics (counts, latencies) and the audit trail.

export type JobObserver = {
  /** Awaited before the job completes: the audit entry is part of the job's work. */
  done: (job: Job<PatientJobData>, result: PatientJobResult) => Promise<void>;
  failed: (failure: JobError, final: boolean) => void;
  /** After the dead letter is stored. */
  rejected: (job: Job<PatientJobData>, failure: JobError) => Promise<void>;
  batch: (size: number) => void;
};


export function createObserver(metrics: WorkerMetrics, audit: AuditLog): JobObserver {
  const entry = (job: Job<PatientJobData>) => ({
    at: new Date(),
    keyId: job.data?.submittedBy ?? null,
    centerId: idOf(job.data?.patient?.center_id),
    patientId: idOf(job.data?.patient?.id),
    jobId: String(job.id),
    attempt: job.attemptsMade + 1,
  });
  return {
    async done(job, result) {
      metrics.completed.inc({ outcome: result.outcome });
      if (result.outcome === 'inserted' || result.outcome === 'updated') metrics.ingestLatency.observe((Date.now() - job.data.receivedAt) / 1000);
      await audit.record({ ...entry(job), action: result.outcome });
    },
    failed(failure, final) {
      metrics.failed.inc({ code: failure.code, final: String(final) });
      if (!final) metrics.retries.inc();
    },
    async rejected(job, failure) {
      metrics.deadLetters.inc();
      await audit.record({ ...entry(job), action: 'rejected', code: failure.code });
    },
    batch: (size) => metrics.batchSize.observe(size),
  };
}
