import type { Job } from 'bullmq';
import type { DeadLetter, Store } from '../../shared/mongo.ts';
import { decidedOf, idOf, recordRef, recordsOf, type PatientJobData } from '../../shared/queue.ts';
import { classifyError } from '../job-errors.ts';

/**
 * A record refused for good is kept in MongoDB, where Redis retention cannot evict it and an
 * operator can list and replay it (dead-letter-cli.ts). One letter per RECORD (a job carries many:
 * a poison record never takes its neighbours with it), keyed by queue and record reference
 * (`<jobId>-<index>`), so recording twice is harmless, and a replay marker once set is never
 * cleared by a later record.
 */

export type Failure = { code: string; message: string };
export type RecordedBy = NonNullable<DeadLetter['recordedBy']>;
/** The record as the job carried it, where it was, and how many attempts it had. */
export type LetterSource = { jobId: string; index: number; record: unknown; attempts: number };

export const deadLetterId = (queue: string, ref: string) => `${queue}:${ref}`;

/**
 * What a job that failed for good keeps in Redis once its letters are kept: per record its ids,
 * submitter and time (the status route reads them), no patient value. The letters hold the records;
 * Redis would otherwise keep them for JOB_KEEP_FAILED_AGE_S too.
 */
/** Whether a job's data is redacted already (redactedJobData): nothing more to write. */
export const isRedacted = (data: unknown) => recordsOf(data).every((r) => isRecord(r) && r.redacted === true);

export function redactedJobData(data: unknown): PatientJobData {
  const records = recordsOf(data).map((r) => {
    const record = isRecord(r) ? r : {};
    const patient = isRecord(record.patient) ? record.patient : {};
    return { patient: { id: patient.id, center_id: patient.center_id }, receivedAt: record.receivedAt, submittedBy: record.submittedBy, redacted: true };
  });
  return { records } as PatientJobData;
}

/** The records of a job that failed for good and were not decided (kept in its progress) before. */
export function undecidedRecords(job: Job<PatientJobData>, attempts = job.attemptsMade): LetterSource[] {
  const decided = decidedOf(job.progress);
  return recordsOf(job.data)
    .map((record, index) => ({ jobId: String(job.id), index, record, attempts }))
    .filter(({ index }) => !decided[index]);
}

/**
 * `processor` records what it knows best and overwrites the failure fields; the other sources
 * (failed event, sweep) only add a letter that is missing.
 */
export async function recordDeadLetter(store: Store, queue: string, source: LetterSource, failure: Failure, recordedBy: RecordedBy): Promise<void> {
  const ref = recordRef(source.jobId, source.index);
  const data = source.record;
  const patient = isRecord(data) && isRecord(data.patient) ? data.patient : undefined;
  const receivedAt = isRecord(data) && typeof data.receivedAt === 'number' && Number.isFinite(data.receivedAt) ? new Date(data.receivedAt) : null;
  const now = new Date();
  const failureFields = {
    queue,
    jobId: ref,
    // The record's own identity, (center_id, id): a letter names no other center.
    patientId: idOf(patient?.id),
    centerId: idOf(patient?.center_id),
    data: data as unknown,
    errorCode: failure.code,
    errorMessage: failure.message,
    attempts: source.attempts,
    receivedAt,
    failedAt: now,
    recordedBy,
  };
  const once = { firstFailedAt: now }; // replayedAt / replayJobId only once replayed
  const write = (fields: typeof failureFields & { dataJson?: string }) =>
    store.deadLetters.updateOne(
      { _id: deadLetterId(queue, ref) },
      recordedBy === 'processor' ? { $set: fields, $setOnInsert: once } : { $setOnInsert: { ...fields, ...once } },
      { upsert: true },
    );
  try {
    await write(failureFields);
  } catch (err) {
    // Another producer's record can hold keys no document may ($where, a.b): keep it as JSON text.
    if (!classifyError(err).permanent) throw err;
    await write({ ...failureFields, data: null, dataJson: JSON.stringify(data ?? null) });
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

export { listDeadLetters, replayDeadLetter, type ListOptions } from '../../shared/dead-letter-store.ts';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
