import type { Job, QueueEvents } from 'bullmq';
import type { PatientJobData, PatientJobResult } from '../shared/queue.ts';

// `Prefer: wait=N` (RFC 7240) for clients written against the old synchronous endpoint.

/** Seconds asked for in a Prefer header, capped; undefined when the client did not ask to wait. */
export function preferredWait(header: string | string[] | undefined, maxSeconds: number): number | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const match = value ? /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(value) : null;
  return match ? Math.min(Number(match[1]), maxSeconds) : undefined;
}

export type WaitResult =
  | { kind: 'done'; result: PatientJobResult }
  | { kind: 'failed'; reason: string }
  | { kind: 'pending' };

export async function waitForJob(job: Job<PatientJobData, PatientJobResult>, events: QueueEvents, seconds: number): Promise<WaitResult> {
  if (seconds <= 0) return { kind: 'pending' };
  try {
    return { kind: 'done', result: (await job.waitUntilFinished(events, seconds * 1000)) as PatientJobResult };
  } catch (err) {
    // Either the wait timed out or the job failed for good (the error carries its failedReason,
    // which is our own text); the job's state says which.
    return (await job.getState()) === 'failed' ? { kind: 'failed', reason: (err as Error).message } : { kind: 'pending' };
  }
}
