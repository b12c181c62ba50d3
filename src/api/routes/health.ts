import type { FastifyInstance } from 'fastify';
import { withTimeout } from '../../shared/errors.ts';
import { readyOrTimeout, type RedisClient } from '../../shared/redis.ts';

/** @fastify/under-pressure calls the route's own handler instead of answering 503; returning nothing lets the request through. */
export const LIVE_UNDER_PRESSURE = (): undefined => undefined;

// Liveness: the process answers. Readiness: Redis answers too (without it nothing can be accepted).
export async function healthRoutes(app: FastifyInstance, { redis }: { redis: RedisClient }): Promise<void> {
  // An overloaded process is alive: under-pressure lets this route through (a handler that returns nothing).
  app.get('/health/live', { config: { pressureHandler: LIVE_UNDER_PRESSURE } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    // The producer fails fast while disconnected; give a connection that is coming up a moment.
    const redisOk = (await readyOrTimeout(redis, 500)) && (await withTimeout(redis.ping(), 500, () => new Error('timeout')).then(() => true, () => false));
    return reply.code(redisOk ? 200 : 503).send({ status: redisOk ? 'ok' : 'unavailable', checks: { redis: redisOk ? 'ok' : 'down' } });
  });
}
