// Patient documents as the worker writes them, for tests that call the write path directly.
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { versionOf } from '../../src/worker/process-patient-job.ts';
import { patientVersion } from './fault-env.ts';

/** Version `version` of patient `id` (modify_time grows with it; fullname names both). */
export function patientDoc(id: number, version: number, fields: Partial<PatientDocument> = {}): PatientDocument {
  const { patient } = patientVersion(id, version, Date.UTC(2025, 5, 1));
  const modify = new Date(String(patient.modify_time));
  return {
    ...(patient as unknown as PatientDocument),
    _id: id,
    modify_time: modify,
    ...fields,
    _ingest: { version: versionOf(modify, Date.UTC(2025, 5, 1), String(version)), jobId: String(version), receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  };
}
