import { z } from 'zod';
import { parseDotnetDate } from './dotnet-date.ts';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES, RANGES, type FieldKind, type Patient } from './patient-fields.ts';

// The one patient contract, used by the API (before enqueueing) and the worker (before writing).
// Error messages name the rule, never the offending value: they reach logs and job failure reasons.

export type PatientRules = { timeZone: string; maxStringLength: number };

export type FieldIssue = { path: string; message: string };

const INT_TEXT = /^\s*[-+]?\d+\s*$/;
// C0 and C1 control characters except tab, line feed and carriage return.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const LOWER_TO_FIELD = new Map(PATIENT_FIELD_NAMES.map((name) => [name.toLowerCase(), name]));

/** ASP.NET model binding: digit strings are integers, an empty form value is "no value". */
const integerText = (value: unknown) =>
  typeof value === 'string' ? (value.trim() === '' ? null : INT_TEXT.test(value) ? Number(value) : value) : value;

function integer(min: number, max: number) {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    integerText,
    z.number({ error: `${rule} (a JSON number or a string of digits)` })
      .int({ error: `${rule}; fractions are not allowed` })
      .min(min, { error: `is out of range: ${rule}` })
      .max(max, { error: `is out of range: ${rule}` })
      .nullable(),
  );
}

function date(timeZone: string) {
  const format = 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00';
  return z.preprocess(
    (value) => (value === '' ? null : value),
    z.string({ error: format }).nullable().transform((text, ctx) => {
      if (text === null) return null;
      const parsed = parseDotnetDate(text, timeZone);
      if (parsed.ok) return parsed.value;
      const message = parsed.reason === 'calendar' ? 'is not a real calendar date or time' : format;
      ctx.issues.push({ code: 'custom', message, input: text });
      return z.NEVER;
    }),
  );
}

function text(maxLength: number) {
  return z.preprocess(
    (value) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : value),
    z.string({ error: 'must be a string' })
      .max(maxLength, { error: `must be at most ${maxLength} characters long` })
      .refine((s) => !CONTROL.test(s), { error: 'must not contain control characters (tab and newline are allowed)' })
      .nullable(),
  );
}

function fieldSchema(kind: FieldKind, rules: PatientRules) {
  switch (kind) {
    case 'integer':
      return integer(RANGES.integer.min, RANGES.integer.max);
    case 'signedByte':
      return integer(RANGES.signedByte.min, RANGES.signedByte.max);
    case 'date':
      return date(rules.timeZone);
    case 'string':
      return text(rules.maxStringLength);
  }
}

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
    if (!field || seen.has(field)) continue;
    seen.add(field);
    bound[field] = value;
  }
  return bound;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `Id` and `ID` in one body bind to the same field: ambiguous, so an error rather than a guess. */
function duplicateFields(input: unknown): FieldIssue[] {
  if (!isObject(input)) return [];
  const counts = new Map<string, number>();
  for (const key of Object.keys(input)) {
    const field = LOWER_TO_FIELD.get(key.toLowerCase());
    if (field) counts.set(field, (counts.get(field) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1).map(([path]) => ({ path, message: 'is given more than once (names are case-insensitive)' }));
}

export function createPatientSchema(rules: PatientRules) {
  const shape = Object.fromEntries(
    PATIENT_FIELD_NAMES.map((name) => [name, fieldSchema(PATIENT_FIELDS[name], rules)]),
  ) as Record<string, z.ZodType>;
  shape.id = z.preprocess(
    integerText,
    z.number({ error: 'is required: a positive integer, the patient key' })
      .int({ error: 'must be a positive integer; fractions are not allowed' })
      .min(1, { error: `is out of range: must be from 1 to ${RANGES.integer.max}` })
      .max(RANGES.integer.max, { error: `is out of range: must be from 1 to ${RANGES.integer.max}` }),
  );
  return z.preprocess(bindFields, z.object(shape, { error: 'the patient must be a JSON object' }).strip()) as unknown as z.ZodType<Patient>;
}

export type PatientSchema = ReturnType<typeof createPatientSchema>;

/** Every problem as `{ path, message }`: what is wrong and where, never the value itself. */
export function toFieldIssues(error: z.ZodError, prefix: (string | number)[] = []): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.');
    return { path: path === '' ? '(body)' : path, message: issue.message };
  });
}

export type PatientParse = { ok: true; patient: Patient } | { ok: false; issues: FieldIssue[] };

export function parsePatient(schema: PatientSchema, input: unknown): PatientParse {
  const result = schema.safeParse(input);
  const issues = [...duplicateFields(input), ...(result.success ? [] : toFieldIssues(result.error))];
  return result.success && issues.length === 0 ? { ok: true, patient: result.data } : { ok: false, issues };
}
