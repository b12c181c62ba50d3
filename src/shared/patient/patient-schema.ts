import { z } from 'zod';
import { assertTimeZone } from './dotnet-date.ts';
import { bindFields, duplicateFields } from './patient-binding.ts';
import { createFastPath } from './patient-fast-path.ts';
import { boundedInteger, fieldSchema, integerRule, integerText } from './patient-field-schemas.ts';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES, RANGES, type Patient } from './patient-fields.ts';
import type { FieldIssue, PatientRules } from './patient-rules.ts';

// The one patient contract, used by the API (before enqueueing) and the worker (before writing).
// Error messages name the rule, never the offending value: they reach logs and job failure reasons.

export type { FieldIssue, PatientRules } from './patient-rules.ts';

export { bindFields } from './patient-binding.ts';

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
