// Patient documents as the worker writes them, for tests that call the write path directly.
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { versionOf } from '../../src/worker/process-patient-job.ts';
import { patientVersion } from './fault-env.ts';

/** The worker's `_id` of patient `id` of the seed sample's center (3): `"3:<id>"`. */
export const seedKey = (id: number): string => patientKey(SEED_SAMPLE.center_id, id);

/** Version `version` of patient `id` (modify_time grows with it; fullname names both). */
export function patientDoc(id: number, version: number, fields: Partial<PatientDocument> = {}): PatientDocument {
  const { patient } = patientVersion(id, version, Date.UTC(2025, 5, 1));
  const modify = new Date(String(patient.modify_time));
  return {
    ...(patient as unknown as PatientDocument),
    modify_time: modify,
    ...fields,
    _id: patientKey(fields.center_id !== undefined ? fields.center_id : SEED_SAMPLE.center_id, id),
    _ingest: { version: versionOf(modify, Date.UTC(2025, 5, 1), String(version)), jobId: String(version), receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  };
}
