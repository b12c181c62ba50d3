import { randomUUID } from 'node:crypto';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { QueueEvents } from 'bullmq';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import { adminPlugin } from './admin.ts';
import { createAuthenticator, type Client } from './auth.ts';
import { createDepthGuard } from './backpressure.ts';
import type { PatientQueue } from './enqueue.ts';
import { createApiMetrics, metricsRoute, observeRequest, type ApiMetrics } from './metrics.ts';
import { docsPlugin } from './openapi/plugin.ts';
import { errorHandler, notFoundHandler, sendProblem } from './problem.ts';
import { batchRoutes } from './routes/batch.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { patientRoutes } from './routes/patients.ts';

export type AppDeps = {
  config: Config;
  logger: Logger;
  queue: PatientQueue;
  /** The producer's fail-fast connection: idempotency keys, rate limits, readiness. */
  redis: Redis;
  /** Reads only: GET /api/patients/{id} and the `Prefer: wait` answer. */
  store: Pick<Store, 'patients'>;
  /** Needed for `Prefer: wait=N`; without it the API always answers 202. */
  queueEvents?: QueueEvents;
};

/** What the route plugins get: the deps plus what buildApp derives from them. */
export type RouteDeps = AppDeps & { metrics: ApiMetrics; checkDepth: (incoming?: number) => Promise<void> };

/** The HTTP app, not listening: server.ts listens, tests use app.inject(). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.API_BODY_LIMIT_BYTES,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // One line per request (the onResponse hook below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    // A client-chosen request id goes into every log line: accept only a plain token.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
  });
  const metrics = createApiMetrics(deps.queue);
  const guard = createDepthGuard(deps.queue, { maxWaiting: config.QUEUE_MAX_WAITING, maxMemoryPercent: config.QUEUE_MAX_MEMORY_PERCENT });
  const checkDepth = (incoming?: number) => guard(incoming).catch((err: unknown) => {
    metrics.rejected.inc({ reason: 'queue_full' }, incoming ?? 1);
    throw err;
  });
  const routeDeps: RouteDeps = { ...deps, metrics, checkDepth };
  const authenticate = createAuthenticator(config);

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Fastify parses text/plain by default; the old endpoint never took it, so it is a 415.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  await app.register(formbody, { bodyLimit: config.API_BODY_LIMIT_BYTES });
  // CSP is left to the pages that need one (swagger-ui sets its own); the API answers JSON.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  await app.register(underPressure, {
    maxEventLoopDelay: 1000,
    retryAfter: 5,
    pressureHandler: (_request, reply) => {
      reply.header('retry-after', '5');
      sendProblem(reply, { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the server is overloaded; nothing was accepted, retry later' });
    },
  });

  app.decorateRequest('logFields', null);
  app.decorateRequest('client', null as unknown as Client);
  app.addHook('onResponse', async (request, reply) => {
    observeRequest(routeDeps.metrics, request, reply);
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, client: request.client?.id, ...request.logFields },
      'request',
    );
  });

  await app.register(metricsRoute, { metrics: routeDeps.metrics });
  await app.register(healthRoutes, { redis: deps.redis });
  await app.register(docsPlugin, deps);
  await app.register(async (api) => {
    api.addHook('onRequest', authenticate);
    await api.register(rateLimit, {
      redis: deps.redis,
      max: config.RATE_LIMIT_MAX,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      hook: 'preHandler', // after authentication, so the limit is per key
      keyGenerator: (request) => `key:${request.client.id}`,
      nameSpace: `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}:ratelimit:`,
      skipOnError: true, // Redis down: the enqueue answers 503 anyway
      errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', 429, `too many requests for this API key; retry in ${Math.ceil(context.ttl / 1000)} s`),
    });
    await api.register(patientRoutes, routeDeps);
    await api.register(batchRoutes, routeDeps);
    await api.register(jobRoutes, routeDeps);
  });
  await app.register(adminPlugin, { queue: deps.queue, authenticate });
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Extra ids for the one log line per request (job id, patient id): never patient values. */
    logFields: Record<string, string | number> | null;
    /** The authenticated API key (set for /api and /admin routes). */
    client: Client;
  }
}
