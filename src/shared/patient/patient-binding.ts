import { PATIENT_FIELD_NAMES } from './patient-fields.ts';
import type { FieldIssue } from './patient-rules.ts';

// How ASP.NET Web API bound a body to the patient: property names case-insensitively, unknown ones dropped.

const LOWER_TO_FIELD = new Map(PATIENT_FIELD_NAMES.map((name) => [name.toLowerCase(), name]));

/**
 * Binds property names case-insensitively (as ASP.NET Web API does), keeps only the known
 * fields and fills absent ones with null. Unknown keys ($set, a.b, __proto__ …) never get through.
 */
export function bindFields(input: unknown): unknown {
  if (!isObject(input)) return input;
  const bound: Record<string, unknown> = Object.fromEntries(PATIENT_FIELD_NAMES.map((name) => [name, null]));
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(input)) {
    const field = LOWER_TO_FIELD.get(key.toLowerCase());
    if (!field || seen.has(field) || value === undefined) continue;
    seen.add(field);
    bound[field] = value;
  }
  return bound;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `Id` and `ID` in one body bind to the same field: ambiguous, so an error rather than a guess. */
export function duplicateFields(input: unknown): FieldIssue[] {
  if (!isObject(input)) return [];
  const counts = new Map<string, number>();
  for (const key of Object.keys(input)) {
    const field = LOWER_TO_FIELD.get(key.toLowerCase());
    if (field) counts.set(field, (counts.get(field) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1).map(([path]) => ({ path, message: 'is given more than once (names are case-insensitive)' }));
}
