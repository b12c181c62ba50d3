import { z } from 'zod';
import type { Config } from '../../shared/config/config.ts';
import { SEED_SAMPLE } from '../../shared/patient/patient-fields.ts';
import { DEAD_LETTER_OFFSET_MAX, DEAD_LETTER_PAGE_MAX } from '../dead-letter-routes.ts';
import { MAX_JSON_DEPTH } from '../json-depth.ts';
import { batchLimits } from '../routes/batch.ts';
import { adminPaths, deadLetterSchemas } from './admin-paths.ts';
import { patientInputSchemas } from './patient-input.ts';
import { apiSchemas } from './schemas.ts';
import { positiveRange } from './wire-patterns.ts';

// The help page, successor of the ASP.NET one: OpenAPI 3.1 generated from the zod schemas above.

type Json = Record<string, unknown>;
const ROUTE_INT32 = { type: 'string', maxLength: 10, pattern: `^0*${positiveRange(1, 2147483647)}$` };
// A center id is any 32-bit integer, as the patient's own center_id field (a record may carry a negative one).
const ROUTE_CENTER = { type: 'string', maxLength: 11, pattern: `^(?:0*${positiveRange(1, 2147483647)}|-0*${positiveRange(1, 2147483648)}|-?0+)$` };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, extra: Json = {}) => ({ content: { 'application/json': { schema: ref(name), ...extra } } });
const problem = (description: string, schema: Json = ref('Problem')) => ({ description, content: { 'application/problem+json': { schema } } });

function toSchema(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  return rest;
}

export function openApiDocument(config: Config): Json {
  const schemas = { ...apiSchemas(), ...deadLetterSchemas() };
  const accepted = { description: 'Accepted: the job is in the queue and will not be lost', headers: { Location: { schema: { type: 'string' }, description: 'the job status URL' } }, ...json('Accepted') };
  const unavailable = problem('The queue did not confirm the record (Redis down or slow), or it is backed up, or the server is overloaded: retry after Retry-After (with the same Idempotency-Key)');
  const bodyErrors = { '413': problem('Body larger than allowed'), '415': problem('Content-Type not supported') };
  const waited = { content: { 'application/json': { schema: { anyOf: [ref('Patient'), ref('WriteDecided')] } } } };
  const batch = batchLimits(config);
  // Items are judged one by one: an invalid item is that item's error in the answer, never the batch's.
  const batchItems = { type: 'array', items: ref('PatientInput'), minItems: 1, maxItems: config.API_BATCH_MAX, description: `Each item is validated on its own: a batch whose items are not all valid is still taken (202, an error per invalid item, by index; 400 when none is valid). More than ${config.API_BATCH_MAX} items answer 413.` };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hemodialysis patient-record ingestion',
      version: '1.0.0',
      description:
        'Replaces the ASP.NET `POST api/patients`. Records are validated, queued and stored asynchronously: `202 Accepted` means the record is safely queued. Every error answer is RFC 9457 `application/problem+json`.',
    },
    paths: {
      '/api/patients': {
        post: {
          operationId: 'submitPatient',
          summary: 'Submit one patient record',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' }, description: 'Same key and body: the first answer is replayed; same key, other body: 422.' },
            { name: 'Prefer', in: 'header', required: false, schema: { type: 'string', examples: ['wait=5'] }, description: `RFC 7240 \`wait=N\` (capped at ${config.API_WAIT_MAX_S} s): wait for the worker and answer 201/200 with the stored patient if the key also has \`patients:read\` (or \`admin\`) for its center; a write-only key gets the outcome of its write (\`WriteDecided\`: jobId, state, outcome, statusUrl) and no patient field.` },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('PatientInput'), example: SEED_SAMPLE },
              'text/json': { schema: ref('PatientInput') },
              'application/x-www-form-urlencoded': { schema: ref('PatientForm') },
            },
          },
          responses: {
            '200': { description: 'With Prefer: wait — the patient existed and the worker decided (see X-Ingest-Outcome): the stored patient for a key with patients:read, else the outcome alone', ...waited },
            '201': { description: 'With Prefer: wait — a new patient was stored: the stored patient for a key with patients:read, else the outcome alone', ...waited },
            '202': accepted,
            '400': problem('Invalid record (every invalid field with its path and rule), or an Idempotency-Key that is not 1-255 visible ASCII characters'),
            '409': problem('A request with the same Idempotency-Key is still in progress'),
            ...bodyErrors,
            '422': problem('Idempotency-Key reused with another body, or (Prefer: wait) the worker rejected the record'),
            '503': unavailable,
          },
        },
      },
      '/api/patients/batch': {
        post: {
          operationId: 'submitPatientBatch',
          summary: `Submit up to ${config.API_BATCH_MAX} patients; each item is judged on its own`,
          description: `The body is read as it arrives: items are counted (item ${config.API_BATCH_MAX} + 1 stops it with 413, the rest unread), nest at most ${MAX_JSON_DEPTH} levels and are at most ${batch.maxItemBytes} bytes each; a refusal names the item (\`index\`) and the byte (\`offset\`), and nothing of a malformed body is enqueued. NDJSON lines that are not JSON (or nest too deep) are that item's error. Batch bodies read at once are bounded per server; past it 503 BATCH_BUSY with Retry-After.`,
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: batchItems },
              'application/x-ndjson': { schema: { ...batchItems, description: 'one patient JSON object per line' } },
            },
          },
          responses: { '202': { description: 'At least one item accepted; one result per item, by index', ...json('BatchResult') }, '400': problem('No item is valid (then with accepted, rejected and the results per index); or the body is not an array (BATCH_NOT_ARRAY), empty (BATCH_EMPTY), not JSON (BODY_INVALID_JSON), too deep (BODY_TOO_DEEP) or holds __proto__ (BODY_FORBIDDEN_KEY), with index and offset', { anyOf: [ref('BatchRejected'), ref('Problem')] }), ...bodyErrors, '413': problem(`Body larger than allowed, more than ${config.API_BATCH_MAX} items (BATCH_TOO_LARGE), or an item over ${batch.maxItemBytes} bytes (BATCH_ITEM_TOO_LARGE), with index and offset`), '503': problem('As for one patient, or too many batch bodies being read at once (BATCH_BUSY): retry after Retry-After') },
        },
      },
      '/api/patients/{id}': {
        get: {
          operationId: 'getPatient',
          summary: 'The stored patient, in the old endpoint\'s response shape',
          parameters: [
            // As the route reads them: 1-10 ASCII digits, 1..2147483647.
            { name: 'id', in: 'path', required: true, schema: ROUTE_INT32 },
            { name: 'center_id', in: 'query', required: false, description: 'The center whose patient this is; needed when several centers of the key use the id', schema: ROUTE_CENTER },
          ],
          responses: {
            '200': { description: 'The patient', ...json('Patient') },
            '400': problem('The id is not a positive 32-bit integer, or center_id not a 32-bit integer'),
            '404': problem('No such patient at this key\'s centers'),
            '409': problem('Several centers of this key use the id: add center_id'),
          },
        },
      },
      '/api/patients/jobs/{jobId}': {
        get: {
          operationId: 'getJob',
          summary: 'Where a submission stands: state, attempts, timestamps, error summary (never patient data)',
          parameters: [{ name: 'jobId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'The job', ...json('JobStatus') }, '404': problem('Unknown job, or removed after its retention period') },
        },
      },
      '/api/submissions/{id}': {
        get: {
          operationId: 'getSubmission',
          summary: 'How a whole submission went: counts per state and outcome, and the index and code of each record that did not land (the `submission` of a 202)',
          description: `For the key that submitted it (and admins). Kept as long as its jobs: ${config.JOB_KEEP_COMPLETED_AGE_S} s (JOB_KEEP_COMPLETED_AGE_S), counted again at each read while undecided.`,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 100 } }],
          responses: { '200': { description: 'The receipt', ...json('Receipt') }, '404': problem('Unknown submission, another key\'s, or removed with its jobs after the retention period') },
        },
      },
      ...adminPaths(DEAD_LETTER_PAGE_MAX, DEAD_LETTER_OFFSET_MAX, json, problem),
    },
    components: { schemas: { ...patientInputSchemas(config.PATIENT_STRING_MAX, config.PATIENT_MAX_FUTURE_S), ...Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, toSchema(schema)])) } },
  };
}
