import type { Job } from 'bullmq';
import { idOf, recordRef, recordsOf, type PatientJobData, type RecordResult } from '../shared/queue.ts';
import type { AuditLog } from './audit.ts';
import type { JobError } from './job-errors.ts';
import type { WorkerMetrics } from './metrics.ts';

// What the worker reports about each record of a job: metrics (counts, latencies) and the audit trail.

export type Decided = { index: number; result: RecordResult };

export type JobObserver = {
  /** The records this attempt decided. Awaited before the job completes: the audit entries are part of its work. */
  decided: (job: Job<PatientJobData>, decided: Decided[], refOf?: (jobId: string, index: number) => string) => Promise<void>;
  failed: (failure: JobError, final: boolean) => void;
  batch: (size: number) => void;
};

export function createObserver(metrics: WorkerMetrics, audit: AuditLog): JobObserver {
  return {
    async decided(job, decided, refOf = recordRef) {
      const records = recordsOf(job.data) as { patient?: { center_id?: unknown; id?: unknown }; receivedAt?: number; submittedBy?: string }[];
      const entries = decided.map(({ index, result }) => {
        const record = records[index];
        if (result.outcome === 'rejected') metrics.deadLetters.inc();
        else metrics.completed.inc({ outcome: result.outcome });
        if ((result.outcome === 'inserted' || result.outcome === 'updated') && typeof record?.receivedAt === 'number') {
          metrics.ingestLatency.observe((Date.now() - record.receivedAt) / 1000);
        }
        return {
          keyId: record?.submittedBy ?? null,
          centerId: idOf(record?.patient?.center_id),
          patientId: idOf(record?.patient?.id),
          jobId: refOf(String(job.id), index),
          action: result.outcome,
          ...(result.code ? { code: result.code } : {}),
        };
      });
      await audit.record({ at: new Date(), jobId: String(job.id), attempt: job.attemptsMade + 1, entries }, { queue: job.queueName, indexes: decided.map((d) => d.index) });
    },
    failed(failure, final) {
      metrics.failed.inc({ code: failure.code, final: String(final) });
      if (!final) metrics.retries.inc();
    },
    batch: (size) => metrics.batchSize.observe(size),
  };
}
