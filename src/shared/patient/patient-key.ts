// A patient record belongs to the center that sends it: its identity is (center_id, id), because each
// center numbers its own patients. The storage key is made here and nowhere else, so one center's id
// can neither reveal nor block another center's (docs/operations.md, "Tenancy model").

/** `_id` of a patient document: `"<center_id>:<id>"`, `"-:<id>"` for a record without a center. */
export function patientKey(centerId: number | null, id: number): string {
  return `${centerId ?? '-'}:${id}`;
}
