import type { Job, QueueEvents } from 'bullmq';
import type { PatientJobData, PatientJobResult, RecordResult } from '../shared/queue.ts';

// `Prefer: wait=N` (RFC 7240) for clients written against the old synchronous endpoint.

/** Seconds asked for in a Prefer header, capped; undefined when the client did not ask to wait. */
export function preferredWait(header: string | string[] | undefined, maxSeconds: number): number | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const match = value ? /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(value) : null;
  return match ? Math.min(Number(match[1]), maxSeconds) : undefined;
}

export type WaitResult =
  | { kind: 'done'; result: RecordResult }
  | { kind: 'failed'; reason: string }
  | { kind: 'pending' };

/** Waits for the job holding the record, then answers that record's own result. */
export async function waitForRecord(job: Job<PatientJobData, PatientJobResult>, index: number, events: QueueEvents, seconds: number): Promise<WaitResult> {
  if (seconds <= 0) return { kind: 'pending' };
  try {
    const finished = (await job.waitUntilFinished(events, seconds * 1000)) as PatientJobResult | undefined;
    const result = finished?.results?.[index];
    if (!result) return { kind: 'pending' };
    return result.outcome === 'rejected' ? { kind: 'failed', reason: `${result.code ?? 'REJECTED'}: ${result.message ?? 'the worker rejected the record'}` } : { kind: 'done', result };
  } catch (err) {
    // Either the wait timed out or the job failed for good (the error carries its failedReason,
    // which is our own text); the job's state says which.
    return (await job.getState()) === 'failed' ? { kind: 'failed', reason: (err as Error).message } : { kind: 'pending' };
  }
}
