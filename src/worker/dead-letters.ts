import type { Job } from 'bullmq';
import type { DeadLetter, Store } from '../shared/mongo.ts';
import type { PatientJobData } from '../shared/queue.ts';
import type { JobError } from './job-errors.ts';

/**
 * A job that failed for good is kept in MongoDB, where Redis retention cannot evict it and an
 * operator can list and replay it. Keyed by queue and job id, so recording twice is harmless.
 */
export async function recordDeadLetter(store: Store, queue: string, job: Job<PatientJobData>, failure: JobError): Promise<void> {
  const jobId = String(job.id);
  const rawId = (job.data?.patient as Record<string, unknown> | undefined)?.id;
  const patientId = Number.isSafeInteger(Number(rawId)) ? Number(rawId) : null;
  const letter: DeadLetter = {
    _id: `${queue}:${jobId}`,
    queue,
    jobId,
    patientId,
    data: job.data,
    errorCode: failure.code,
    errorMessage: failure.message,
    attempts: job.attemptsMade + 1,
    receivedAt: Number.isFinite(job.data?.receivedAt) ? new Date(job.data.receivedAt) : null,
    failedAt: new Date(),
    replayedAt: null,
    replayJobId: null,
  };
  await store.deadLetters.replaceOne({ _id: letter._id }, letter, { upsert: true });
}
