import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { withTimeout } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { Store } from '../shared/mongo.ts';
import type { WorkerMetrics } from './metrics.ts';

/** The worker's small HTTP side: liveness, readiness (Redis and MongoDB answer) and metrics. */
export async function buildWorkerHttp(deps: { redis: RedisClient; store: Pick<Store, 'db'>; metrics: WorkerMetrics; logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  const check = (probe: () => Promise<unknown>) => withTimeout(probe(), 1000, () => new Error('timeout')).then(() => 'ok' as const, () => 'down' as const);
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const [redis, mongo] = await Promise.all([check(() => deps.redis.ping()), check(() => deps.store.db.command({ ping: 1 }))]);
    const ok = redis === 'ok' && mongo === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { redis, mongo } });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}
