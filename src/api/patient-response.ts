import { formatDotnetDate } from '../shared/patient/dotnet-date.ts';
import { PATIENT_FIELD_NAMES, PATIENT_FIELDS } from '../shared/patient/patient-fields.ts';
import type { PatientDocument } from '../shared/mongo.ts';

/** The stored patient in the old endpoint's response shape: its field order, dates in the configured zone. */
export function toPatientResponse(doc: PatientDocument, timeZone: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PATIENT_FIELD_NAMES) {
    const value = doc[field] ?? null;
    out[field] = PATIENT_FIELDS[field] === 'date' && value instanceof Date ? formatDotnetDate(value, timeZone) : value;
  }
  return out;
}
