import type { FastifyInstance } from 'fastify';
import { AppError } from '../../shared/errors.ts';
import { parsePatient, toJobPatient, type FieldIssue } from '../../shared/patient/patient-schema.ts';
import type { PatientRecord } from '../../shared/queue.ts';
import { mayAccess, requireScope, tenantOf } from '../auth.ts';
import { statusUrl } from '../intake/enqueue.ts';
import { MAX_JSON_DEPTH, nestedTooDeep } from '../json-depth.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// Many patients in one request: a JSON array or NDJSON (one object per line). Each item is judged on
// its own; the valid ones are enqueued together as one job (or a few, bounded in records and bytes:
// intake.ts), in one Redis round trip. Each keeps its own status reference.

export type BatchItemResult = { index: number; jobId: string; statusUrl: string } | { index: number; errors: FieldIssue[] };

/** An NDJSON line that is not JSON: kept in place so the item keeps its index and gets its error. */
const NOT_JSON = Symbol('not-json');
const TOO_DEEP = Symbol('too-deep');

const tooLarge = (max: number) => new AppError('BATCH_TOO_LARGE', 413, `a batch holds at most ${max} patients; split it`);

/** At most `max` non-blank lines, found without splitting or parsing the whole text. */
function withinLines(text: string, max: number): boolean {
  let count = 0;
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    if (text.slice(start, stop).trim() !== '' && ++count > max) return false;
    start = stop + 1;
  }
  return true;
}

export async function batchRoutes(app: FastifyInstance, { config, metrics, intake, intakeSchema: schema }: RouteDeps): Promise<void> {
  const bodyLimit = Math.max(config.API_BODY_LIMIT_BYTES, config.API_BATCH_MAX * 4096);

  app.addContentTypeParser('application/x-ndjson', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    // Count before parsing: an oversized batch costs a scan of the text, not a JSON.parse per line.
    if (!withinLines(body as string, config.API_BATCH_MAX)) return done(tooLarge(config.API_BATCH_MAX), undefined);
    const lines = (body as string).split('\n').filter((line) => line.trim() !== '');
    done(null, lines.map((line) => {
      if (nestedTooDeep(line)) return TOO_DEEP; // never handed to JSON.parse (json-depth.ts)
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return NOT_JSON;
      }
    }));
  });

  app.post('/api/patients/batch', { bodyLimit }, async (request, reply) => {
    requireScope(request, 'patients:write');
    const items = request.body;
    if (!Array.isArray(items)) throw new AppError('BATCH_NOT_ARRAY', 400, 'the body must be a JSON array of patients (or NDJSON, one patient per line)');
    if (items.length === 0) throw new AppError('BATCH_EMPTY', 400, 'the batch is empty');
    if (items.length > config.API_BATCH_MAX) throw tooLarge(config.API_BATCH_MAX);

    const results: BatchItemResult[] = [];
    const records: PatientRecord[] = [];
    const at: number[] = [];
    const receivedAt = Date.now();
    const submittedBy = request.client.id;
    const tenant = tenantOf(request.client);
    const total = items.length;
    items.forEach((item: unknown, index) => {
      if (item === NOT_JSON) return results.push({ index, errors: [{ path: '(line)', message: 'is not valid JSON' }] });
      if (item === TOO_DEEP) return results.push({ index, errors: [{ path: '(line)', message: `nests deeper than ${MAX_JSON_DEPTH} levels` }] });
      const parsed = parsePatient(schema, item);
      if (!parsed.ok) return results.push({ index, errors: parsed.issues });
      if (!mayAccess(request.client, parsed.patient)) return results.push({ index, errors: [{ path: 'center_id', message: 'this API key may not write patients of this center' }] });
      records.push({ patient: toJobPatient(parsed.patient), receivedAt, submittedBy, tenant });
      at.push(index);
    });
    // The parsed body is not needed while Redis is asked: let it go (memory under many large batches).
    (request as { body: unknown }).body = null;
    const accepted = records.length;
    metrics.rejected.inc({ reason: 'invalid' }, total - accepted);
    if (accepted > 0) {
      const bytes = Number(request.headers['content-length']) || accepted * 1024;
      const refs = await intake.accept(records, Math.round((bytes * accepted) / total), 'batch');
      refs.forEach((ref, i) => results.push({ index: at[i]!, jobId: ref, statusUrl: statusUrl(ref) }));
    }
    results.sort((a, b) => a.index - b.index);
    request.logFields = { items: total, accepted, rejected: total - accepted };
    if (accepted === 0) {
      return sendProblem(reply, { type: '/docs#problem-invalid-batch', title: 'Invalid patient records', status: 400, detail: 'no item of the batch is valid; see results', accepted: 0, rejected: total, results });
    }
    return reply.code(202).send({ accepted, rejected: total - accepted, results });
  });
}
