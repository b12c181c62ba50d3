import { z } from 'zod';
import { PATIENT_FIELD_NAMES, PATIENT_FIELDS, RANGES, SEED_SAMPLE, type FieldKind } from '../../shared/patient-fields.ts';

// zod schemas that describe the wire format for the OpenAPI document. They are built from the same
// field table as the validating schema (src/shared/patient-schema.ts), so the two cannot drift
// apart in fields or ranges; the validating one adds the .NET binding rules in code.

const INT_TEXT = '^\\s*[-+]?\\d+\\s*$';
const DATE_TEXT = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,7})?(Z|[+-]\\d{2}:\\d{2})?)?$';

function inputField(kind: FieldKind, maxStringLength: number) {
  switch (kind) {
    case 'integer':
    case 'signedByte': {
      const { min, max } = RANGES[kind];
      return z
        .union([z.int().min(min).max(max), z.string().regex(new RegExp(INT_TEXT))])
        .nullable()
        .meta({ description: `${kind === 'integer' ? '32-bit integer' : 'signed byte'} (${min}..${max}); a JSON number or a string of digits` });
    }
    case 'date':
      return z.string().regex(new RegExp(DATE_TEXT)).nullable().meta({
        description:
          'ISO 8601 as .NET writes it: date only, or date-time with 0-7 fractional digits and Z, an offset, or none (then local time in the configured zone, default Asia/Bangkok). 0001-01-01T00:00:00 (DateTime.MinValue) means no date.',
      });
    case 'string':
      return z.string().max(maxStringLength).nullable().meta({ description: `at most ${maxStringLength} characters; no control characters but tab and newline` });
  }
}

function outputField(kind: FieldKind) {
  if (kind === 'date') return z.string().nullable().meta({ description: 'in the configured zone, e.g. 2025-10-31T19:55:09.1380000+07:00' });
  if (kind === 'string') return z.string().nullable();
  return z.int().nullable();
}

export function apiSchemas(maxStringLength: number) {
  const inputShape = Object.fromEntries(PATIENT_FIELD_NAMES.map((f) => [f, inputField(PATIENT_FIELDS[f], maxStringLength).optional()]));
  const PatientInput = z
    .object({ ...inputShape, id: z.union([z.int().min(1).max(RANGES.integer.max), z.string().regex(new RegExp(INT_TEXT))]).meta({ description: 'the patient key, required, positive' }) })
    .meta({ description: 'A patient record as the old ASP.NET endpoint accepted it. Property names are matched case-insensitively; unknown properties are ignored.', examples: [SEED_SAMPLE] });
  const Patient = z.object(Object.fromEntries(PATIENT_FIELD_NAMES.map((f) => [f, outputField(PATIENT_FIELDS[f])]))).meta({ description: 'The stored patient, in the old endpoint\'s response shape.' });
  const FieldIssue = z.object({ path: z.string().meta({ description: 'field name, or (body)' }), message: z.string().meta({ description: 'the rule broken; never the value' }) });
  const Problem = z
    .object({
      type: z.string(),
      title: z.string(),
      status: z.int(),
      detail: z.string().optional(),
      code: z.string().optional(),
      errors: z.array(FieldIssue).optional().meta({ description: 'every invalid field (400 on a patient)' }),
    })
    .meta({ description: 'RFC 9457 problem details (application/problem+json)' });
  const Accepted = z.object({ jobId: z.string(), status: z.literal('queued'), statusUrl: z.string() });
  const JobStatus = z.object({
    jobId: z.string(),
    state: z.enum(['queued', 'active', 'stored', 'skipped-as-stale', 'failed']),
    outcome: z.enum(['inserted', 'updated', 'unchanged', 'stale']).nullable(),
    patientId: z.int().nullable(),
    attempts: z.int(),
    receivedAt: z.string(),
    processedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable().meta({ description: 'error code and rule; never patient data' }),
  });
  const BatchResult = z.object({
    accepted: z.int(),
    rejected: z.int(),
    results: z.array(z.union([z.object({ index: z.int(), jobId: z.string(), statusUrl: z.string() }), z.object({ index: z.int(), errors: z.array(FieldIssue) })])),
  });
  return { PatientInput, Patient, Problem, Accepted, JobStatus, BatchResult };
}
