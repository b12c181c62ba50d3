import formbody from '@fastify/formbody';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import type { PatientJobData, PatientJobResult } from '../shared/queue.ts';
import { docsPlugin } from './openapi/plugin.ts';
import { errorHandler, notFoundHandler } from './problem.ts';
import { batchRoutes } from './routes/batch.ts';
import { jobRoutes } from './routes/jobs.ts';
import { patientRoutes } from './routes/patients.ts';

export type AppDeps = {
  config: Config;
  logger: Logger;
  queue: Queue<PatientJobData, PatientJobResult>;
  /** The producer's fail-fast connection (idempotency keys live next to the queue). */
  redis: Redis;
  /** Reads only: GET /api/patients/{id} and the `Prefer: wait` answer. */
  store: Pick<Store, 'patients'>;
  /** Needed for `Prefer: wait=N`; without it the API always answers 202. */
  queueEvents?: QueueEvents;
};

/** The HTTP app, not listening: server.ts listens, tests use app.inject(). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.API_BODY_LIMIT_BYTES,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // One line per request (the onResponse hook below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addContentTypeParser('text/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  await app.register(formbody, { bodyLimit: deps.config.API_BODY_LIMIT_BYTES });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ...request.logFields },
      'request',
    );
  });
  app.decorateRequest('logFields', null);
  // Who is calling: scopes idempotency keys. Until API keys exist every caller is 'anonymous'.
  app.decorateRequest('client', 'anonymous');

  await app.register(docsPlugin, deps);
  await app.register(patientRoutes, deps);
  await app.register(batchRoutes, deps);
  await app.register(jobRoutes, deps);
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Extra ids for the one log line per request (job id, patient id): never patient values. */
    logFields: Record<string, string | number> | null;
    client: string;
  }
}
