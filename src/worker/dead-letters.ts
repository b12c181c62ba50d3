import type { Job } from 'bullmq';
import type { DeadLetter, Store } from '../shared/mongo.ts';
import { idOf, type PatientJobData } from '../shared/queue.ts';
import { classifyError } from './job-errors.ts';

/**
 * A job that failed for good is kept in MongoDB, where Redis retention cannot evict it and an
 * operator can list and replay it (dead-letter-cli.ts). Keyed by queue and job id, so recording
 * twice is harmless, and a replay marker once set is never cleared by a later record.
 */

export type Failure = { code: string; message: string };
export type RecordedBy = NonNullable<DeadLetter['recordedBy']>;

export const deadLetterId = (queue: string, jobId: string) => `${queue}:${jobId}`;

/**
 * `processor` records what it knows best and overwrites the failure fields; the other sources
 * (failed event, sweep) only add a letter that is missing.
 */
export async function recordDeadLetter(store: Store, queue: string, job: Job<PatientJobData>, failure: Failure, recordedBy: RecordedBy): Promise<void> {
  const jobId = String(job.id);
  const rawId = isRecord(job.data) && isRecord(job.data.patient) ? job.data.patient.id : undefined;
  const patientId = idOf(rawId);
  const receivedAt = isRecord(job.data) && Number.isFinite(job.data.receivedAt) ? new Date(job.data.receivedAt) : null;
  const now = new Date();
  const failureFields = {
    queue,
    jobId,
    patientId,
    data: job.data as unknown,
    errorCode: failure.code,
    errorMessage: failure.message,
    attempts: recordedBy === 'processor' ? job.attemptsMade + 1 : job.attemptsMade,
    receivedAt,
    failedAt: now,
    recordedBy,
  };
  const once = { firstFailedAt: now }; // replayedAt / replayJobId only once replayed
  const write = (fields: typeof failureFields & { dataJson?: string }) =>
    store.deadLetters.updateOne(
      { _id: deadLetterId(queue, jobId) },
      recordedBy === 'processor' ? { $set: fields, $setOnInsert: once } : { $setOnInsert: { ...fields, ...once } },
      { upsert: true },
    );
  try {
    await write(failureFields);
  } catch (err) {
    // Another producer's record can hold keys no document may ($where, a.b): keep it as JSON text.
    if (!classifyError(err).permanent) throw err;
    await write({ ...failureFields, data: null, dataJson: JSON.stringify(job.data ?? null) });
  }
}

/**
 * BullMQ's failedReason for jobs failed outside our processor, turned into a code and a message of
 * ours. Our own reasons are `CODE: message`; BullMQ's own texts are fixed strings without values.
 */
export function failureFromReason(reason: string | undefined): Failure {
  const own = /^([A-Z][A-Z_]{2,40}): (.{1,500})$/s.exec(reason ?? '');
  if (own) return { code: own[1]!, message: own[2]! };
  if (reason && /stalled more than allowable limit/.test(reason)) {
    return { code: 'JOB_STALLED_LIMIT', message: 'the job stalled (its worker died) more often than WORKER_MAX_STALLED_COUNT' };
  }
  return { code: 'JOB_FAILED', message: 'failed in the queue for a reason not set by this worker' };
}

export type ListOptions = { includeReplayed: boolean; limit: number };

export async function listDeadLetters(store: Store, options: ListOptions): Promise<DeadLetter[]> {
  const filter = options.includeReplayed ? {} : { replayedAt: null }; // null matches absent too
  return store.deadLetters.find(filter).sort({ failedAt: 1 }).limit(options.limit).toArray();
}

/** Replay = a new job with the same data on the same queue; the letter remembers the new job id. */
export async function replayDeadLetter(
  store: Store,
  letter: DeadLetter,
  enqueue: (queue: string, data: unknown) => Promise<string>,
): Promise<string> {
  const jobId = await enqueue(letter.queue, letter.dataJson === undefined ? letter.data : JSON.parse(letter.dataJson));
  await store.deadLetters.updateOne({ _id: letter._id }, { $set: { replayedAt: new Date(), replayJobId: jobId } });
  return jobId;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
