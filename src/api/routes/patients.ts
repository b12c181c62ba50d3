import type { FastifyInstance, FastifyReply } from 'fastify';
import { ValidationError } from '../../shared/errors.ts';
import { parsePatient, toJobPatient } from '../../shared/patient/patient-schema.ts';
import type { PatientRecord } from '../../shared/queue.ts';
import { forbiddenTenant, mayAccess, requireScope, tenantOf } from '../auth.ts';
import { statusUrl } from '../intake/enqueue.ts';
import { receiptUrl } from '../intake/receipts.ts';
import { createIdempotency, type StoredAnswer } from '../intake/idempotency.ts';
import { idempotencySecret } from '../idempotency-secret.ts';
import { answerAfterWait, preferredWait } from '../intake/prefer-wait.ts';
import type { RouteDeps } from '../route-deps.ts';

// The intake: validate against the shared contract, enqueue, answer 202. A 202 is only sent once
// Redis has the record (in a job it shares with the records of concurrent requests: intake.ts);
// anything else (Redis down, too slow) is a 503 and the client retries.

export async function patientRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, metrics, intake } = deps;
  const schema = deps.intakeSchema;
  const idempotency = createIdempotency(deps.redis, `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}`, idempotencySecret(config), config.API_IDEMPOTENCY_TTL_S, Math.ceil((config.API_ENQUEUE_TIMEOUT_MS * 2) / 1000) + 1, config.API_ENQUEUE_TIMEOUT_MS);

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
    // One Redis bound for the whole request: the key's claim and the enqueue share it.
    const deadline = Date.now() + config.API_ENQUEUE_TIMEOUT_MS;
    const key = request.headers['idempotency-key'];
    const claim = typeof key === 'string' ? await idempotency.begin(request.client.id, key, toJobPatient(parsed.patient), deadline) : undefined;
    if (claim?.replay) {
      request.logFields = { replay: 'idempotency' };
      return send(reply.header('idempotent-replayed', 'true'), claim.replay);
    }
    const record: PatientRecord = { patient: toJobPatient(parsed.patient), receivedAt: Date.now(), submittedBy: request.client.id, tenant: tenantOf(request.client) };
    let jobId: string;
    try {
      [jobId] = (await intake.accept([record], Number(request.headers['content-length']) || 1024, 'single', deadline)) as [string];
    } catch (err) {
      void claim?.abort().catch(() => {}); // the 503 does not wait for it; the claim expires anyway
      throw err;
    }
    // A submission of one: its record reference is its receipt (routes/submissions.ts).
    const answer: StoredAnswer = { status: 202, body: { jobId, status: 'queued', statusUrl: statusUrl(jobId), submission: receiptUrl(jobId) }, location: statusUrl(jobId) };
    request.logFields = { jobId };
    // From here the job is in Redis: whatever fails now, the answer is still the 202 it earned.
    await claim?.finish(answer).catch(() => request.log.warn('idempotency answer not stored; the key frees itself shortly'));
    const wait = preferredWait(request.headers.prefer, config.API_WAIT_MAX_S);
    if (wait === undefined) return send(reply, answer);
    return answerAfterWait(request, reply, deps, { jobId, patient: parsed.patient, seconds: wait, earned: () => send(reply, answer) });
  });
}
