import type { FastifyInstance } from 'fastify';
import { healthRoutes } from '../../shared/health.ts';
import { readyOrTimeout, type RedisClient } from '../../shared/redis.ts';

/** @fastify/under-pressure calls the route's own handler instead of answering 503; returning nothing lets the request through. */
export const LIVE_UNDER_PRESSURE = (): undefined => undefined;

// The API is ready when Redis answers (without it nothing can be accepted); an overloaded API is alive.
export async function apiHealthRoutes(app: FastifyInstance, { redis }: { redis: RedisClient }): Promise<void> {
  await healthRoutes(app, {
    // The producer fails fast while disconnected; give a connection that is coming up a moment.
    checks: { redis: async () => ((await readyOrTimeout(redis, 500)) ? redis.ping() : Promise.reject(new Error('not connected'))) },
    checkTimeoutMs: 1000,
    liveRouteConfig: { pressureHandler: LIVE_UNDER_PRESSURE },
  });
}
