import { z } from 'zod';
import { PATIENT_FIELD_NAMES, PATIENT_FIELDS, type FieldKind } from '../../shared/patient/patient-fields.ts';

// zod schemas that describe the wire format for the OpenAPI document. They are built from the same
// field table as the validating schema (src/shared/patient/patient-schema.ts), so the two cannot drift
// apart in fields or ranges; the validating one adds the .NET binding rules in code.

function outputField(kind: FieldKind) {
  if (kind === 'date') return z.string().nullable().meta({ description: 'in the configured zone, e.g. 2025-10-31T19:55:09.1380000+07:00' });
  if (kind === 'string') return z.string().nullable();
  return z.int().nullable();
}

export function apiSchemas() {
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
    // RFC 9457 allows extension members (jobId, per-item results, ...).
    .loose()
    .meta({ description: 'RFC 9457 problem details (application/problem+json)' });
  const submission = z.string().meta({ description: 'the receipt of the whole submission: GET it for counts per state and outcome (Receipt)' });
  const Accepted = z.object({ jobId: z.string(), status: z.literal('queued'), statusUrl: z.string(), submission });
  // Prefer: wait for a key without patients:read: what its write did, never the stored record.
  const WriteDecided = z
    .object({ jobId: z.string(), state: z.enum(['stored', 'skipped-as-stale']), outcome: z.enum(['inserted', 'updated', 'unchanged', 'stale']), statusUrl: z.string() })
    .meta({ description: 'With Prefer: wait, for a key without patients:read: the outcome of its write and no patient field' });
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
  const BatchItemResult = z.union([z.object({ index: z.int(), jobId: z.string(), statusUrl: z.string() }), z.object({ index: z.int(), errors: z.array(FieldIssue) })]);
  const BatchResult = z.object({ accepted: z.int(), rejected: z.int(), submission: submission.optional().meta({ description: 'absent only if Redis took the records but not their receipt' }), results: z.array(BatchItemResult) });
  const count = z.int().min(0);
  const Receipt = z
    .object({
      submission: z.string(),
      total: z.int().meta({ description: 'items in the submission, refused ones included' }),
      complete: z.boolean().meta({ description: 'every record decided: nothing queued or active' }),
      counts: z.object({ queued: count, active: count, inserted: count, updated: count, unchanged: count, stale: count, rejected: count, failed: count }),
      notLanded: z.array(z.object({ index: z.int(), code: z.string() })).meta({ description: 'the items refused at intake or by the worker, or whose job failed for good: position in the submission and error code, never a value' }),
    })
    .meta({ description: 'How a whole submission went, from job-level state' });
  // Every item invalid: a problem that also carries the per-item results.
  const BatchRejected = Problem.extend({ accepted: z.literal(0), rejected: z.int(), results: z.array(BatchItemResult) });
  return { Patient, Problem, Accepted, WriteDecided, JobStatus, BatchResult, BatchRejected, Receipt };
}
