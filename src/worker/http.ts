import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { healthRoutes } from '../shared/health.ts';
import type { Logger } from '../shared/logger.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { Store } from '../shared/mongo.ts';
import type { WorkerMetrics } from './metrics.ts';

/** The worker's small HTTP side: liveness, readiness (Redis and MongoDB answer) and metrics. */
export async function buildWorkerHttp(deps: { redis: RedisClient; store: Pick<Store, 'db'>; metrics: WorkerMetrics; logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  await app.register(healthRoutes, { checks: { redis: () => deps.redis.ping(), mongo: () => deps.store.db.command({ ping: 1 }) }, checkTimeoutMs: 1000 });
  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}
