import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../shared/config/config.ts';
import { AppError } from '../../shared/errors.ts';
import { PATIENT_FIELDS } from '../../shared/patient/patient-fields.ts';
import { parsePatient, toJobPatient, type FieldIssue } from '../../shared/patient/patient-schema.ts';
import type { PatientRecord } from '../../shared/queue.ts';
import { mayAccess, requireScope, tenantOf } from '../auth.ts';
import { batchBodyParser, batchParseSlots, createSlots, isBatchBody, type BatchLimits, type ItemCollector } from '../intake/batch-body.ts';
import { statusUrl } from '../intake/enqueue.ts';
import { receiptUrl, slicesOf } from '../intake/receipts.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// Many patients in one request: a JSON array or NDJSON (one object per line), read as a stream
// (intake/batch-body.ts). Each item is judged on its own as it arrives; the valid ones are enqueued
// together as one job (or a few, bounded in records and bytes: intake.ts), in one Redis round trip,
// once the whole body has been read. Each keeps its own status reference.

export type BatchItemResult = { index: number; jobId: string; statusUrl: string } | { index: number; errors: FieldIssue[] };
type Judged = { results: BatchItemResult[]; records: PatientRecord[]; at: number[]; total: number; refused: [number, string][] };

const STRING_FIELDS = Object.values(PATIENT_FIELDS).filter((kind) => kind === 'string').length;

/**
 * The largest item a batch takes: 64 KiB, or more when PATIENT_STRING_MAX allows a larger valid
 * patient (every string field at its longest, each UTF-16 unit escaped as `\uXXXX`, plus 4 KiB for
 * the other fields). A patient at the defaults is under 2 KiB; the bound is there so that one item
 * cannot take the whole body (and the heap it would build) for itself.
 */
export const batchItemMaxBytes = (stringMax: number, bodyLimit: number) => Math.min(bodyLimit, Math.max(64 * 1024, STRING_FIELDS * stringMax * 6 + 4096));

/** The batch route's bounds (also the help page's): the body, the items, one item. */
export function batchLimits(config: Config): BatchLimits {
  const bodyLimit = Math.max(config.API_BODY_LIMIT_BYTES, config.API_BATCH_MAX * 4096);
  return { bodyLimit, maxItems: config.API_BATCH_MAX, maxItemBytes: batchItemMaxBytes(config.PATIENT_STRING_MAX, bodyLimit) };
}

export async function batchRoutes(app: FastifyInstance, { config, metrics, intake, intakeSchema: schema, receipts }: RouteDeps): Promise<void> {
  const limits = batchLimits(config);
  const { bodyLimit } = limits;
  const slots = createSlots(batchParseSlots(bodyLimit));

  const collectorFor = (request: FastifyRequest): ItemCollector<Judged> => {
    const judged: Judged = { results: [], records: [], at: [], total: 0, refused: [] };
    const receivedAt = Date.now();
    const submittedBy = request.client.id;
    const tenant = tenantOf(request.client);
    return {
      item(value, index) {
        judged.total++;
        const parsed = parsePatient(schema, value);
        if (!parsed.ok) return void (judged.results.push({ index, errors: parsed.issues }), judged.refused.push([index, 'PATIENT_INVALID']));
        if (!mayAccess(request.client, parsed.patient)) {
          judged.refused.push([index, 'FORBIDDEN_TENANT']);
          return void judged.results.push({ index, errors: [{ path: 'center_id', message: 'this API key may not write patients of this center' }] });
        }
        judged.records.push({ patient: toJobPatient(parsed.patient), receivedAt, submittedBy, tenant });
        judged.at.push(index);
      },
      badLine(message, index) {
        judged.total++;
        judged.refused.push([index, 'LINE_INVALID']);
        judged.results.push({ index, errors: [{ path: '(line)', message }] });
      },
      done: () => judged,
    };
  };
  // This plugin's own parsers (the single-patient route keeps app.ts's): the body is a stream here.
  app.removeContentTypeParser(['application/json', 'text/json']);
  app.addContentTypeParser(['application/json', 'text/json', 'application/x-ndjson'], batchBodyParser(limits, slots, collectorFor));

  // A key that may not write has its body refused before any of it is read or a slot is taken.
  const mayWrite = async (request: FastifyRequest) => requireScope(request, 'patients:write');
  app.post('/api/patients/batch', { bodyLimit, preParsing: mayWrite }, async (request, reply) => {
    requireScope(request, 'patients:write');
    const body: unknown = request.body;
    // Form bodies (formbody's parser) and bodyless requests never went through the stream parser.
    if (!isBatchBody<Judged>(body)) throw new AppError('BATCH_NOT_ARRAY', 400, 'the body must be a JSON array of patients (or NDJSON, one patient per line)');
    if (body.kind === 'refused') {
      if (body.retryAfter) reply.header('retry-after', String(body.retryAfter));
      request.logFields = { refused: String(body.problem.code), ...(typeof body.problem.index === 'number' ? { index: body.problem.index } : {}) };
      return sendProblem(reply, body.problem);
    }
    const { results, records, at, total, refused } = body.value;
    if (total === 0) throw new AppError('BATCH_EMPTY', 400, 'the batch is empty');
    // The judged items are not needed while Redis is asked: let them go (memory under many large batches).
    (request as { body: unknown }).body = null;
    const accepted = records.length;
    metrics.rejected.inc({ reason: 'invalid' }, total - accepted);
    let submission: string | undefined;
    if (accepted > 0) {
      const refs = await intake.accept(records, Math.round((body.bytes * accepted) / total), 'batch');
      refs.forEach((ref, i) => results.push({ index: at[i]!, jobId: ref, statusUrl: statusUrl(ref) }));
      // The records are in Redis: the 202 stands even if the receipt cannot be written (then it has none).
      const receipt = { by: request.client.id, total, slices: slicesOf(refs), refused, ...(refused.length > 0 ? { at } : {}) };
      submission = await receipts.save(receipt).then(receiptUrl, () => void request.log.warn('submission receipt not stored; the per-record status URLs still answer'));
    }
    results.sort((a, b) => a.index - b.index);
    request.logFields = { items: total, accepted, rejected: total - accepted };
    if (accepted === 0) {
      return sendProblem(reply, { type: '/docs#problem-invalid-batch', title: 'Invalid patient records', status: 400, detail: 'no item of the batch is valid; see results', accepted: 0, rejected: total, results });
    }
    return reply.code(202).send({ accepted, rejected: total - accepted, ...(submission ? { submission } : {}), results });
  });
}
