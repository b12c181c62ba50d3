// Record references (`<jobId>-<index>`) as the tests see them: where a record stands in its batch
// job, read from Redis itself, and a bounded wait that says what it last saw when it gives up.
import type { Job, Queue } from 'bullmq';
import { parseRecordRef, type PatientJobData, type PatientJobResult, type RecordResult } from '../../src/shared/queue.ts';

type PatientQueue = Queue<PatientJobData, PatientJobResult>;
export type PatientJob = Job<PatientJobData, PatientJobResult>;

/**
 * Polls `check` until it is true. On timeout it fails with `what`, the last error the check threw
 * and, if given, what `seen` reports then: a timeout must be explainable from its message.
 */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100, seen?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await check()) return;
      lastError = '';
    } catch (err) {
      lastError = `; last check threw: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) {
      const last = seen ? `; last seen: ${JSON.stringify(await seen().catch((err: unknown) => `(not readable: ${(err as Error).message})`))}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${lastError}${last}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A record reference's partition, job id and index; throws on anything else. */
export function refParts(ref: string): { partition: number; jobId: string; index: number } {
  const p = parseRecordRef(ref);
  if (!p) throw new Error(`not a record reference: ${JSON.stringify(ref)}`);
  return p;
}

/** The distinct job ids behind some record references, in first-seen order. */
export const jobIdsOf = (refs: readonly string[]): string[] => [...new Set(refs.map((r) => refParts(r).jobId))];

export type RecordView = { jobState: string; job: PatientJob | undefined; result: RecordResult | undefined };

/** One record's result: from its job's return value, or from the progress of a job retried after deciding it. */
export async function recordResult(queues: PatientQueue | PatientQueue[], ref: string): Promise<RecordView> {
  const { partition, jobId, index } = refParts(ref);
  // A partitioned reference (`p3-…`) is read from its partition's queue.
  const queue = Array.isArray(queues) ? queues[partition]! : queues;
  const jobState = await queue.getJobState(jobId);
  // Read after the state, so a finished job comes with its return value.
  const job = await queue.getJob(jobId);
  const returned = (job?.returnvalue as PatientJobResult | null | undefined)?.results?.[index];
  const progress = job?.progress as { decided?: (RecordResult | null)[] } | undefined;
  const decided = typeof progress === 'object' && progress !== null ? progress.decided?.[index] : undefined;
  return { jobState, job, result: returned ?? decided ?? undefined };
}

export type SettledRecord = { state: 'completed' | 'failed'; job: PatientJob; result: RecordResult | undefined };

/**
 * Resolves once the record's job has completed or failed for good. `state` is the RECORD's:
 * 'completed' when it was written (inserted, updated, unchanged, stale), 'failed' when it was
 * rejected or its job failed without deciding it.
 */
export async function settledRecord(queue: PatientQueue | PatientQueue[], ref: string, timeoutMs = 20_000): Promise<SettledRecord> {
  let view: RecordView | undefined;
  await until(
    `record ${ref} settled`,
    timeoutMs,
    async () => {
      view = await recordResult(queue, ref);
      // A completed job is read again until its return value is there too.
      return view.jobState === 'failed' || (view.jobState === 'completed' && view.result !== undefined);
    },
    25,
    async () => ({ jobState: view?.jobState, result: view?.result, attemptsMade: view?.job?.attemptsMade, failedReason: view?.job?.failedReason }),
  );
  const { job, result } = view!;
  return { state: result && result.outcome !== 'rejected' ? 'completed' : 'failed', job: job!, result };
}
