import type { FastifyInstance } from 'fastify';
import { AppError, QueueUnavailableError, withTimeout } from '../shared/errors.ts';
import { countDeadLetters, deadLetterSummary, listDeadLetters, replayDeadLetter, replayPartition } from '../shared/dead-letter-store.ts';
import { createReplicaWait } from '../shared/replica-wait.ts';
import { JOB_NAME, partitionedRef, queueSettings, recordRef, type PatientJobData } from '../shared/queue.ts';
import { requireScope } from './auth.ts';
import { statusUrl } from './intake/enqueue.ts';
import { sendProblem } from './problem.ts';
import type { RouteDeps } from './route-deps.ts';

/** `<queue>:<record reference>` is far shorter; the OpenAPI document says the same (admin-paths.ts). */
export const MAX_LETTER_ID = 100;

// Dead letters for ops, admin scope only: the same listing and replay as `npm run dead-letters`
// (src/shared/dead-letter-store.ts). Ids, codes, field paths, rules and times; never the record.

export const DEAD_LETTER_PAGE_MAX = 500;
export const DEAD_LETTER_OFFSET_MAX = 100_000_000;

type ListQuery = { limit?: string; offset?: string; replayed?: string };

const pageNumber = (text: string | undefined, fallback: number, min: number, max: number, name: string) => {
  if (text === undefined) return fallback;
  const n = /^[0-9]{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new AppError('QUERY_INVALID', 400, `${name} must be an integer from ${min} to ${max}`);
  return n;
};

export async function deadLetterRoutes(app: FastifyInstance, { config, queues, store, accessAudit }: RouteDeps): Promise<void> {
  const { jobOptions, names } = queueSettings(config);
  const confirm = createReplicaWait(config.REDIS_WAIT_REPLICAS, config.REDIS_WAIT_TIMEOUT_MS);

  app.get<{ Querystring: ListQuery }>('/api/admin/dead-letters', async (request) => {
    requireScope(request, 'admin');
    const limit = pageNumber(request.query.limit, 100, 1, DEAD_LETTER_PAGE_MAX, 'limit');
    const offset = pageNumber(request.query.offset, 0, 0, DEAD_LETTER_OFFSET_MAX, 'offset');
    if (request.query.replayed !== undefined && !['true', 'false'].includes(request.query.replayed)) throw new AppError('QUERY_INVALID', 400, 'replayed must be true or false');
    const includeReplayed = request.query.replayed === 'true';
    const [letters, total] = await Promise.all([listDeadLetters(store, { includeReplayed, limit, offset }), countDeadLetters(store, includeReplayed)]);
    return { total, offset, limit, items: letters.map((l) => ({ ...deadLetterSummary(l), failedAt: l.failedAt.toISOString(), replayedAt: l.replayedAt?.toISOString() ?? null })) };
  });

  app.post<{ Params: { id: string } }>('/api/admin/dead-letters/:id/replay', async (request, reply) => {
    requireScope(request, 'admin');
    if (request.params.id.length > MAX_LETTER_ID) throw new AppError('LETTER_ID_TOO_LONG', 400, `a dead-letter id has at most ${MAX_LETTER_ID} characters`);
    const letter = await store.deadLetters.findOne({ _id: request.params.id });
    if (!letter) return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no dead letter with this id' });
    if (letter.replayJobId) throw new AppError('ALREADY_REPLAYED', 409, `already replayed as ${letter.replayJobId}`);
    // The API produces for its own queue only; a letter of another queue is replayed by that deployment.
    if (replayPartition(names, config.QUEUE_NAME, letter, {}) === undefined) throw new AppError('OTHER_QUEUE', 409, 'the letter belongs to another queue; replay it with that deployment');
    const entry = { action: 'dead-letter.replay' as const, keyId: request.client.id, patientId: letter.patientId, clientAddress: request.ip, requestId: request.id, letterId: letter._id };
    let ref: string;
    try {
      ref = await replayDeadLetter(store, letter, async (_name, data) => {
        // To the patient's partition now (the queue name only says the letter is ours).
        const p = replayPartition(names, config.QUEUE_NAME, letter, data)!;
        const confirming = await confirm?.(queues[p]!);
        const job = await withTimeout(queues[p]!.add(JOB_NAME, data as PatientJobData, jobOptions), config.API_ENQUEUE_TIMEOUT_MS, () => new QueueUnavailableError());
        await confirming?.();
        return partitionedRef(p, queues.length, recordRef(String(job.id), 0));
      }, request.client.id);
    } catch (err) {
      await accessAudit.record({ ...entry, outcome: 'failed' }).catch(() => {});
      throw err;
    }
    await accessAudit.record({ ...entry, outcome: 'replayed', jobId: ref });
    request.logFields = { letter: letter._id, jobId: ref };
    return reply.code(202).header('location', statusUrl(ref)).send({ id: letter._id, replayJobId: ref, statusUrl: statusUrl(ref) });
  });
}
