import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError, ValidationError } from '../../shared/errors.ts';
import { createPatientSchema, parsePatient, toJobPatient } from '../../shared/patient-schema.ts';
import { parseRecordRef, type PatientRecord } from '../../shared/queue.ts';
import { readEntry } from '../access-log.ts';
import { forbiddenTenant, mayAccess, requireScope, tenantOf } from '../auth.ts';
import { intakeRules } from '../intake-rules.ts';
import { lookupPatient } from '../patient-lookup.ts';
import { statusUrl } from '../enqueue.ts';
import { createIdempotency, type StoredAnswer } from '../idempotency.ts';
import { toPatientResponse } from '../patient-response.ts';
import { preferredWait, waitForRecord } from '../prefer-wait.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// The intake: validate against the shared contract, enqueue, answer 202. A 202 is only sent once
// Redis has the record (in a job it shares with the records of concurrent requests: intake.ts);
// anything else (Redis down, too slow) is a 503 and the client retries.

/** A positive int32 from a path or query string, else null. */
const int32 = (text: string): number | null => (/^\d{1,10}$/.test(text) && Number(text) >= 1 && Number(text) <= 2147483647 ? Number(text) : null);

export async function patientRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, queues, store, queueEvents, metrics, intake, accessAudit } = deps;
  const schema = createPatientSchema(intakeRules(config));
  const idempotency = createIdempotency(deps.redis, `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}`, config.API_IDEMPOTENCY_TTL_S, Math.ceil((config.API_ENQUEUE_TIMEOUT_MS * 2) / 1000) + 1);

  const send = (reply: FastifyReply, answer: StoredAnswer) => {
    if (answer.location) reply.header('location', answer.location);
    return reply.code(answer.status).send(answer.body);
  };

  app.post('/api/patients', async (request, reply) => {
    requireScope(request, 'patients:write');
    const parsed = parsePatient(schema, request.body);
    if (!parsed.ok) {
      metrics.rejected.inc({ reason: 'invalid' });
      throw new ValidationError(parsed.issues);
    }
    if (!mayAccess(request.client, parsed.patient)) {
      metrics.rejected.inc({ reason: 'forbidden' });
      throw forbiddenTenant();
    }
    const key = request.headers['idempotency-key'];
    const claim = typeof key === 'string' ? await idempotency.begin(request.client.id, key, toJobPatient(parsed.patient)) : undefined;
    if (claim?.replay) {
      request.logFields = { patientId: parsed.patient.id, replay: 'idempotency' };
      return send(reply.header('idempotent-replayed', 'true'), claim.replay);
    }
    const record: PatientRecord = { patient: toJobPatient(parsed.patient), receivedAt: Date.now(), submittedBy: request.client.id, tenant: tenantOf(request.client) };
    let jobId: string;
    try {
      [jobId] = (await intake.accept([record], Number(request.headers['content-length']) || 1024, 'single')) as [string];
    } catch (err) {
      await claim?.abort().catch(() => {});
      throw err;
    }
    const answer: StoredAnswer = { status: 202, body: { jobId, status: 'queued', statusUrl: statusUrl(jobId) }, location: statusUrl(jobId) };
    request.logFields = { jobId, patientId: parsed.patient.id };
    // From here the job is in Redis: whatever fails now, the answer is still the 202 it earned.
    await claim?.finish(answer).catch(() => request.log.warn('idempotency answer not stored; the key frees itself shortly'));
    const wait = preferredWait(request.headers.prefer, config.API_WAIT_MAX_S);
    if (wait === undefined || !queueEvents) return send(reply, answer);
    try {
      reply.header('preference-applied', `wait=${wait}`);
      const ref = parseRecordRef(jobId)!;
      const job = await queues[ref.partition]!.getJob(ref.jobId);
      const waited = job ? await waitForRecord(job, ref.index, queueEvents[ref.partition]!, wait) : { kind: 'pending' as const };
      if (waited.kind === 'pending') return send(reply, answer);
      if (waited.kind === 'failed') {
        return sendProblem(reply, { type: '/docs#problem-rejected-by-worker', title: 'Unprocessable Content', status: 422, detail: waited.reason, jobId });
      }
      // The stored record goes back only to a key that may read it (a stale write finds a newer one).
      const found = await lookupPatient(store.patients, request.client, parsed.patient.id, parsed.patient.center_id);
      if (found.outcome !== 'returned') return send(reply, answer);
      const stored = found.doc;
      await accessAudit.record(readEntry(request, 'patient.read-after-write', parsed.patient.id, 'returned'));
      reply.header('x-ingest-outcome', waited.result.outcome).header('location', `/api/patients/${parsed.patient.id}`);
      return reply.code(waited.result.outcome === 'inserted' ? 201 : 200).send(toPatientResponse(stored, config.PATIENT_TIME_ZONE));
    } catch (err) {
      request.log.warn({ err: { name: (err as Error).name } }, 'waiting for the worker failed; answering 202');
      return send(reply, answer);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { center_id?: string } }>('/api/patients/:id', async (request, reply) => {
    requireScope(request, 'patients:read');
    const id = int32(request.params.id);
    const center = request.query.center_id === undefined ? undefined : int32(request.query.center_id);
    if (id === null || center === null) throw new AppError('PATIENT_ID_INVALID', 400, 'the patient id (and center_id, if given) must be positive 32-bit integers');
    // Only the key's centers are looked at; another center's patient is "not found" (the audit tells).
    const found = await lookupPatient(store.patients, request.client, id, center);
    await accessAudit.record(readEntry(request, 'patient.read', id, found.outcome));
    request.logFields = { patientId: id };
    if (found.outcome === 'ambiguous') throw new AppError('PATIENT_ID_AMBIGUOUS', 409, 'several centers of this API key have a patient with this id; add ?center_id=');
    if (found.outcome !== 'returned') return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no patient with this id' });
    return toPatientResponse(found.doc, config.PATIENT_TIME_ZONE);
  });
}
