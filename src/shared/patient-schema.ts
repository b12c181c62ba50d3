import { z } from 'zod';
import { assertTimeZone, parseDotnetDate, type DateFailure } from './dotnet-date.ts';
import { createFastPath } from './patient-fast-path.ts';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES, RANGES, type FieldKind, type Patient } from './patient-fields.ts';

// The one patient contract, used by the API (before enqueueing) and the worker (before writing).
// Error messages name the rule, never the offending value: they reach logs and job failure reasons.

export type PatientRules = {
  timeZone: string;
  maxStringLength: number;
  /** Intake only: a modify_time further ahead than this would make every later update stale. */
  maxFutureMs?: number;
  /** Intake only: CENTER_CLUSTERS; a record's cluster_id must be its center's configured cluster. */
  centerClusters?: ReadonlyMap<number, number>;
};

export type FieldIssue = { path: string; message: string };

// ASCII digits with an optional sign, and ASCII white space around them (as .NET's Int32.Parse).
const INT_TEXT = /^[\t\n\v\f\r ]*[-+]?[0-9]+[\t\n\v\f\r ]*$/;
const BLANK = /^[\t\n\v\f\r ]*$/;
// C0 and C1 control characters except tab and line feed; carriage return only right before a line feed.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|\r(?!\n)/;
const LOWER_TO_FIELD = new Map(PATIENT_FIELD_NAMES.map((name) => [name.toLowerCase(), name]));

/** ASP.NET model binding: digit strings are integers, an empty form value is "no value". */
const integerText = (value: unknown) =>
  typeof value === 'string' ? (BLANK.test(value) ? null : INT_TEXT.test(value) ? Number(value) : value) : value;

/** -0 (from `-0` or `"-0"`) is 0: BSON would store -0 as a double, not an int. */
const noNegativeZero = (n: number) => (n === 0 ? 0 : n);

const integerRule = (min: number, max: number) => `must be an integer from ${min} to ${max}`;

/** A number from min to max: one issue, out of range before fraction (1e20 is not "a fraction"). */
function boundedInteger(min: number, max: number, typeError: z.core.$ZodErrorMap<z.core.$ZodIssueInvalidType> | string) {
  const rule = integerRule(min, max);
  return z.number({ error: typeError })
    .superRefine((n, ctx) => {
      if (n < min || n > max) ctx.addIssue({ code: 'custom', message: `is out of range: ${rule}` });
      else if (!Number.isInteger(n)) ctx.addIssue({ code: 'custom', message: `${rule}; fractions are not allowed` });
    })
    .transform(noNegativeZero);
}

function integer(min: number, max: number) {
  return z.preprocess(integerText, boundedInteger(min, max, `${integerRule(min, max)} (a JSON number or a string of digits)`).nullable());
}

const DATE_FORMAT = 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00';
const DATE_MESSAGES: Record<DateFailure, string> = {
  format: DATE_FORMAT,
  calendar: 'is not a real calendar date or time',
  offset: 'has a UTC offset outside -14:00 to +14:00',
  gap: 'is a local time that does not exist in the configured time zone (skipped when clocks went forward)',
  range: 'is outside the supported range (years 0001 to 9999 in UTC)',
};

function date(timeZone: string) {
  return z.preprocess(
    (value) => (value === '' ? null : value),
    z.string({ error: DATE_FORMAT }).nullable().transform((text, ctx) => {
      if (text === null) return null;
      const parsed = parseDotnetDate(text, timeZone);
      if (parsed.ok) return parsed.value;
      ctx.issues.push({ code: 'custom', message: DATE_MESSAGES[parsed.reason], input: text });
      return z.NEVER;
    }),
  );
}

function text(maxLength: number) {
  return z.preprocess(
    (value) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : value),
    z.string({ error: 'must be a string' })
      // Length as .NET counts it (string.Length, [MaxLength]): UTF-16 code units, so 🏥 counts 2.
      .refine((s) => s.length <= maxLength, { error: `must be at most ${maxLength} characters long (UTF-16 code units, as .NET counts)` })
      .refine((s) => !CONTROL.test(s), { error: 'must not contain control characters (tab, line feed and CRLF are allowed)' })
      // A lone UTF-16 surrogate cannot be stored as UTF-8: the database would silently alter it.
      .refine((s) => s.isWellFormed(), { error: 'must be valid Unicode text (no lone surrogates)' })
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
    if (!field || seen.has(field) || value === undefined) continue;
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
  assertTimeZone(rules.timeZone);
  if (!Number.isInteger(rules.maxStringLength) || rules.maxStringLength < 1) {
    throw new RangeError('createPatientSchema: maxStringLength must be a positive integer');
  }
  const shape = Object.fromEntries(
    PATIENT_FIELD_NAMES.map((name) => [name, fieldSchema(PATIENT_FIELDS[name], rules)]),
  ) as Record<string, z.ZodType>;
  const idRule = integerRule(1, RANGES.integer.max);
  shape.id = z.preprocess(
    integerText,
    boundedInteger(1, RANGES.integer.max, (issue) =>
      issue.input === undefined || issue.input === null ? `is required: the patient key, ${idRule}` : `${idRule} (a JSON number or a string of digits)`,
    ),
  );
  const maxFutureMs = rules.maxFutureMs;
  if (maxFutureMs !== undefined) {
    shape.modify_time = shape.modify_time!.refine(
      (d) => !(d instanceof Date) || d.getTime() <= Date.now() + maxFutureMs,
      `is more than ${Math.round(maxFutureMs / 1000)} s in the future (PATIENT_MAX_FUTURE_S); a future version would make every later update stale`,
    );
  }
  const clusters = rules.centerClusters;
  const object = z.object(shape, { error: 'the patient must be a JSON object' }).strip().superRefine((record, ctx) => {
    if (!clusters || clusters.size === 0 || record.cluster_id == null || record.center_id == null) return;
    const configured = clusters.get(record.center_id as number);
    if (configured !== record.cluster_id) {
      ctx.addIssue({ code: 'custom', path: ['cluster_id'], message: configured === undefined ? 'is set, but center_id belongs to no configured cluster (CENTER_CLUSTERS)' : 'does not match the cluster configured for center_id (CENTER_CLUSTERS)' });
    }
  });
  const schema = z.preprocess(bindFields, object) as unknown as z.ZodType<Patient>;
  FAST_PATHS.set(schema, createFastPath(rules));
  return schema;
}

/** Each schema's table-driven pass for plain inputs (patient-fast-path.ts): same answers, a fraction of the cost. */
const FAST_PATHS = new WeakMap<object, (input: unknown) => Patient | undefined>();

export type PatientSchema = ReturnType<typeof createPatientSchema>;

/** Every problem as `{ path, message }`: what is wrong and where, never the value itself. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = [...issue.path].map(String).join('.');
    return { path: path === '' ? '(body)' : path, message: issue.message };
  });
}

export type PatientParse = { ok: true; patient: Patient } | { ok: false; issues: FieldIssue[] };

export function parsePatient(schema: PatientSchema, input: unknown): PatientParse {
  const fast = FAST_PATHS.get(schema)?.(input);
  if (fast) return { ok: true, patient: fast };
  const result = schema.safeParse(input);
  const issues = [...duplicateFields(input), ...(result.success ? [] : toFieldIssues(result.error))];
  return result.success && issues.length === 0 ? { ok: true, patient: result.data } : { ok: false, issues };
}

/**
 * The validated patient as job data: numbers as numbers, dates as UTC ISO strings (`Z`), absent
 * fields as null. The worker re-validates it with the same schema, and nothing in it depends on the
 * API's time zone or binding rules any more.
 */
export function toJobPatient(patient: Patient): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field in patient) {
    const value = patient[field as keyof Patient];
    out[field] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}
