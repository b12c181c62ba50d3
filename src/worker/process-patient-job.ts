import type { PatientDocument } from '../shared/mongo.ts';
import type { PatientJobData, PatientJobResult, Tenant, WriteOutcome } from '../shared/queue.ts';
import { parsePatient, type PatientSchema } from '../shared/patient-schema.ts';
import { JobError } from './job-errors.ts';

/** What the processor needs of a BullMQ job: enough to test it without Redis. */
export type JobInput = { id: string; data: PatientJobData; attemptsMade: number };

export type ProcessorDeps = {
  schema: PatientSchema;
  write: (doc: PatientDocument, tenant?: Tenant) => Promise<WriteOutcome>;
  now?: () => Date;
};

const EPOCH = '0000-00-00T00:00:00.000Z';

/**
 * Version string compared as plain text by the upsert filter: modify_time, then the time the API
 * received it, then the job's sequence number (BullMQ ids increase per queue).
 */
export function versionOf(modifyTime: Date | null, receivedAt: number, jobId: string): string {
  const seq = /^\d+$/.test(jobId) ? jobId.padStart(16, '0') : jobId;
  return `${modifyTime ? modifyTime.toISOString() : EPOCH}|${new Date(receivedAt).toISOString()}|${seq}`;
}

export async function processPatientJob(job: JobInput, deps: ProcessorDeps): Promise<PatientJobResult> {
  const { data } = job;
  if (typeof data !== 'object' || data === null || !Number.isFinite(data.receivedAt)) {
    throw new JobError('JOB_MALFORMED', 'job data is not a patient job (receivedAt missing)', true);
  }
  const parsed = parsePatient(deps.schema, data.patient);
  if (!parsed.ok) {
    const summary = parsed.issues.map((i) => `${i.path} ${i.message}`).join('; ');
    throw new JobError('PATIENT_INVALID', `patient record is invalid: ${summary}`, true);
  }
  const { patient } = parsed;
  const doc: PatientDocument = {
    _id: patient.id,
    ...patient,
    _ingest: {
      version: versionOf(patient.modify_time, data.receivedAt, job.id),
      jobId: job.id,
      receivedAt: new Date(data.receivedAt),
      appliedAt: (deps.now ?? (() => new Date()))(),
      attempt: job.attemptsMade + 1,
    },
  };
  const outcome = await deps.write(doc, data.tenant);
  return { outcome, patientId: patient.id };
}
