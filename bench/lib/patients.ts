// Request bodies, job data and stored documents built from the seed sample (examples/patient.json),
// with a distinct id each time so every request is a different patient.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../test/support/local-servers.ts';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { createPatientSchema, parsePatient, type PatientSchema } from '../../src/shared/patient/patient-schema.ts';
import { recordRef, type PatientRecord } from '../../src/shared/queue.ts';
import { versionOf } from '../../src/worker/process-patient-job.ts';

export const SEED: Record<string, unknown> = JSON.parse(readFileSync(join(ROOT, 'examples', 'patient.json'), 'utf8'));

// id first (the seed has it first too), then the seed's other fields.
const TEMPLATE = JSON.stringify(Object.assign({ id: 0 }, SEED, { id: 0 }));
const HEAD = '{"id":0';
if (!TEMPLATE.startsWith(HEAD)) throw new Error('seed template does not start with the id');
const SUFFIX = TEMPLATE.slice(HEAD.length);

/** The seed's JSON text with another id: cheap enough to run per request in the load generator. */
export const patientBody = (id: number): string => `{"id":${id}${SUFFIX}`;

export const batchBody = (firstId: number, size: number): string => {
  const parts = new Array<string>(size);
  for (let i = 0; i < size; i++) parts[i] = patientBody(firstId + i);
  return `[${parts.join(',')}]`;
};

/** Ids are handed out once per run, so no two requests anywhere in a run share a patient. */
let nextId = 1;
export function takeIds(count: number): number {
  const first = nextId;
  nextId += count;
  return first;
}

/** What the API would enqueue for the seed with this id (all known fields, raw values). */
export const record = (id: number, receivedAt: number, totalHd?: number): PatientRecord => ({ patient: { ...SEED, id, ...(totalHd === undefined ? {} : { total_hd: totalHd }) }, receivedAt });

export function benchSchema(): PatientSchema {
  return createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });
}

/** The document the worker would write for this record (the same shape, the same version string). */
export function patientDocument(schema: PatientSchema, data: PatientRecord, jobId: string, index: number): PatientDocument {
  const parsed = parsePatient(schema, data.patient);
  if (!parsed.ok) throw new Error(`seed patient is invalid: ${JSON.stringify(parsed.issues)}`);
  const { patient } = parsed;
  return {
    _id: patientKey(patient.center_id ?? null, patient.id),
    ...patient,
    _ingest: {
      version: versionOf(patient.modify_time, data.receivedAt, jobId, index),
      jobId: recordRef(jobId, index),
      receivedAt: new Date(data.receivedAt),
      appliedAt: new Date(),
      attempt: 1,
    },
  };
}
