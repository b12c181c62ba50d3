import type { PatientDocument } from '../shared/mongo.ts';
import { patientKey } from '../shared/patient/patient-key.ts';
import { parsePatient, type PatientSchema } from '../shared/patient/patient-schema.ts';
import { idOf, recordRef, recordsOf, tenantAllows, type RecordResult, type Tenant } from '../shared/queue.ts';
import type { WriteItem, WriteResult } from './write/batch-write.ts';
import { JobError } from './job-errors.ts';

/** What the processor needs of a BullMQ job: enough to test it without Redis. */
export type JobInput = {
  id: string;
  data: unknown;
  attemptsMade: number;
  /** Results decided by an earlier attempt (kept in the job's progress): not written again. */
  decided?: readonly (RecordResult | null | undefined)[];
  /** What an earlier attempt's not-durable write did (kept in the job's progress): reported once a retry finds that version durable. */
  tentative?: readonly (Tentative | null | undefined)[];
};

type Tentative = 'inserted' | 'updated';

export type { WriteItem, WriteResult } from './write/batch-write.ts';

export type ProcessorDeps = {
  schema: PatientSchema;
  /** The write layer: one group commit for the job's valid records, one result per item, in order. */
  write: (items: WriteItem[]) => Promise<WriteResult[]>;
  now?: () => Date;
  /** The record reference the API gave out (it names the partition when there are several). */
  refOf?: (jobId: string, index: number) => string;
};

/** A record the worker refuses for good: dead-lettered on its own, its neighbours go on. */
export type Rejection = { index: number; record: unknown; error: JobError };

export type JobOutcome = {
  /** One per record; null where a transient error left it undecided (the job is then retried). */
  results: (RecordResult | null)[];
  /** Refused in THIS attempt (earlier ones were dead-lettered then). */
  rejected: Rejection[];
  /** The first transient error, when some records are undecided. */
  retry?: JobError;
  /** Per record, what a write not confirmed durable did (this attempt's, else an earlier one's): for the retry. */
  tentative: (Tentative | null)[];
};

const EPOCH = '0000-00-00T00:00:00.000Z';

/**
 * Version string compared as plain text by the upsert filter: modify_time, then the time the API
 * received it, then the job's sequence number (BullMQ ids increase per queue) and the record's
 * place in the job.
 */
export function versionOf(modifyTime: Date | null, receivedAt: number, jobId: string, index = 0): string {
  const seq = /^\d+$/.test(jobId) ? jobId.padStart(16, '0') : jobId;
  return `${modifyTime ? modifyTime.toISOString() : EPOCH}|${new Date(receivedAt).toISOString()}|${seq}.${String(index).padStart(5, '0')}`;
}

export async function processPatientJob(job: JobInput, deps: ProcessorDeps): Promise<JobOutcome> {
  const records = recordsOf(job.data);
  const results: (RecordResult | null)[] = records.map((_, i) => job.decided?.[i] ?? null);
  const rejected: Rejection[] = [];
  const tentative: (Tentative | null)[] = records.map((_, i) => job.tentative?.[i] ?? null);
  const reject = (index: number, error: JobError) => {
    results[index] = { outcome: 'rejected', patientId: patientIdOf(records[index]), code: error.code, message: error.message };
    rejected.push({ index, record: records[index], error });
  };
  const items: WriteItem[] = [];
  const at: number[] = [];
  const appliedAt = (deps.now ?? (() => new Date()))();
  records.forEach((record, index) => {
    if (results[index]) return;
    const doc = toDocument(record, index, job, deps, appliedAt);
    if (doc instanceof JobError) return reject(index, doc);
    // The record's OWN center against its key's (other producers, replays); never a stored record's:
    // its key already scopes the write to that center, so nothing of another center is consulted.
    if (!tenantAllows((record as { tenant?: Tenant }).tenant, doc)) return reject(index, forbiddenCenter());
    items.push({ doc });
    at.push(index);
  });
  const written = items.length > 0 ? await deps.write(items) : [];
  let retry: JobError | undefined;
  written.forEach((w, k) => {
    const index = at[k]!;
    // "unchanged" is this record's own version found stored: an earlier attempt wrote it, and what
    // that write did (kept while it was not durable) is the record's true outcome.
    if (w.ok) results[index] = { outcome: w.outcome === 'unchanged' ? (tentative[index] ?? 'unchanged') : w.outcome, patientId: items[k]!.doc.id };
    else if (w.error.permanent) reject(index, w.error);
    else retry ??= w.error;
    if (!w.ok && w.tentative) tentative[index] = w.tentative;
  });
  return retry ? { results, rejected, retry, tentative } : { results, rejected, tentative };
}

function toDocument(record: unknown, index: number, job: JobInput, { schema, refOf = recordRef }: ProcessorDeps, appliedAt: Date): PatientDocument | JobError {
  const r = record as { patient?: unknown; receivedAt?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.receivedAt !== 'number' || !Number.isFinite(r.receivedAt)) {
    return new JobError('JOB_MALFORMED', 'record is not a patient record (receivedAt missing)', true);
  }
  const parsed = parsePatient(schema, r.patient);
  if (!parsed.ok) {
    const summary = parsed.issues.map((i) => `${i.path} ${i.message}`).join('; ');
    return new JobError('PATIENT_INVALID', `patient record is invalid: ${summary}`, true);
  }
  const { patient } = parsed;
  return {
    _id: patientKey(patient.center_id ?? null, patient.id),
    ...patient,
    _ingest: {
      version: versionOf(patient.modify_time, r.receivedAt, job.id, index),
      jobId: refOf(job.id, index),
      receivedAt: new Date(r.receivedAt),
      appliedAt,
      attempt: job.attemptsMade + 1,
    },
  };
}

const forbiddenCenter = () => new JobError('FORBIDDEN_TENANT', "the record's center_id is not a center this API key may write", true);

function patientIdOf(record: unknown): number | null {
  const patient = typeof record === 'object' && record !== null ? (record as { patient?: unknown }).patient : undefined;
  return typeof patient === 'object' && patient !== null ? idOf((patient as { id?: unknown }).id) : null;
}
