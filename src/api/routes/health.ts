import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { withTimeout } from '../../shared/errors.ts';

// Liveness: the process answers. Readiness: Redis answers too (without it nothing can be accepted).
export async function healthRoutes(app: FastifyInstance, { redis }: { redis: Redis }): Promise<void> {
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    // The producer fails fast while disconnected; give a connection that is coming up a moment.
    const connected = redis.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    const redisOk = await withTimeout(connected.then(() => redis.ping()), 1000, () => new Error('timeout')).then(() => true, () => false);
    return reply.code(redisOk ? 200 : 503).send({ status: redisOk ? 'ok' : 'unavailable', checks: { redis: redisOk ? 'ok' : 'down' } });
  });
}
