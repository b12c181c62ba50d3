import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { QueueUnavailableError, withTimeout } from '../shared/errors.ts';
import { JOB_NAME, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';

export type PatientQueue = Queue<PatientJobData, PatientJobResult>;

export const statusUrl = (jobId: string) => `/api/patients/jobs/${jobId}`;

/**
 * Adds jobs in one Redis round trip; resolves only once Redis has them all. Any failure or a
 * reply slower than `timeoutMs` is a QueueUnavailableError (503): no 202 without the job stored.
 */
export async function enqueue(queue: PatientQueue, items: PatientJobData[], timeoutMs: number, log: FastifyBaseLogger): Promise<string[]> {
  try {
    // One record: a plain add (no MULTI around it), the hot path of single-patient intake.
    const add = items.length === 1 ? queue.add(JOB_NAME, items[0]!).then((j) => [j]) : queue.addBulk(items.map((data) => ({ name: JOB_NAME, data })));
    const jobs = await withTimeout(add, timeoutMs, () => new QueueUnavailableError());
    return jobs.map((job) => String(job.id));
  } catch (err) {
    log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'enqueue failed');
    throw new QueueUnavailableError();
  }
}
