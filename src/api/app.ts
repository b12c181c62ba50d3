import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
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
import { accessAuditCollection, createAccessAudit, type AccessAudit } from '../shared/access-audit.ts';
import type { Store } from '../shared/mongo.ts';
import { adminPlugin } from './admin.ts';
import { createAuthenticator, devMode, type Client } from './auth.ts';
import { createBadKeyLimit } from './bad-key-limit.ts';
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
  /** Reads (GET /api/patients/{id}, the `Prefer: wait` answer) and the access audit's inserts. */
  store: Pick<Store, 'patients' | 'db'>;
  /** Needed for `Prefer: wait=N`; without it the API always answers 202. */
  queueEvents?: QueueEvents;
};

/** What the route plugins get: the deps plus what buildApp derives from them. */
export type RouteDeps = AppDeps & { metrics: ApiMetrics; checkDepth: (incoming?: number) => Promise<void>; accessAudit: AccessAudit };

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
    // false: Fastify would otherwise take the header as it is; genReqId checks it first.
    requestIdHeader: false,
    // A client-chosen request id goes into every log line: accept only a plain token.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    // Slow clients (one byte every few seconds) must not hold sockets: the whole request within
    // requestTimeout, no socket idle longer than connectionTimeout. Node checks requestTimeout
    // every connectionsCheckingInterval (30 s by default): once a second keeps the bound close.
    requestTimeout: config.API_REQUEST_TIMEOUT_MS,
    connectionTimeout: config.API_CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: config.API_KEEP_ALIVE_TIMEOUT_MS,
    serverFactory: (handler) => createServer({ connectionsCheckingInterval: 1000, requestTimeout: config.API_REQUEST_TIMEOUT_MS, headersTimeout: config.API_REQUEST_TIMEOUT_MS }, handler),
    trustProxy: config.API_TRUST_PROXY,
  });
  app.server.maxConnections = config.API_MAX_CONNECTIONS;
  const metrics = createApiMetrics(deps.queue, devMode(config));
  const guard = createDepthGuard(deps.queue, config.QUEUE_MAX_WAITING);
  const checkDepth = (incoming?: number) => guard(incoming).catch((err: unknown) => {
    metrics.rejected.inc({ reason: 'queue_full' }, incoming ?? 1);
    throw err;
  });
  const accessAudit = createAccessAudit(accessAuditCollection(deps.store.db));
  const routeDeps: RouteDeps = { ...deps, metrics, checkDepth, accessAudit };
  const authenticate = createAuthenticator(config, createBadKeyLimit(config.AUTH_FAIL_MAX, config.AUTH_FAIL_WINDOW_MS));

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Fastify parses text/plain by default; the old endpoint never took it, so it is a 415.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  await app.register(formbody, { bodyLimit: config.API_BODY_LIMIT_BYTES });
  // CSP is set by the two HTML pages (/docs: swagger-ui's staticCSP, /admin/queues: admin.ts); the API answers JSON.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  if (devMode(config)) app.addHook('onSend', async (_request, reply) => void reply.header('x-auth-dev-mode', 'true'));
  await app.register(underPressure, {
    maxEventLoopDelay: 1000,
    retryAfter: 5,
    pressureHandler: (_request, reply) => {
      reply.header('retry-after', '5');
      sendProblem(reply, { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the server is overloaded; nothing was accepted, retry later' });
    },
  });
  // Busy is not dead: /health/live opts out of the overload answer (routes/health.ts), or
  // Kubernetes would restart a pod that is only loaded.

  app.decorateRequest('logFields', null);
  app.decorateRequest('client', null as unknown as Client);
  app.addHook('onResponse', async (request, reply) => {
    observeRequest(routeDeps.metrics, request, reply);
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, client: request.client?.id, clientAddress: request.ip, ...request.logFields },
      'request',
    );
  });

  await app.register(metricsRoute, { metrics: routeDeps.metrics, authenticate });
  await app.register(healthRoutes, { redis: deps.redis });
  await app.register(docsPlugin, deps);
  await app.register(async (api) => {
    // Patient data and job states must not sit in a browser's or a proxy's cache.
    api.addHook('onRequest', async (_request, reply) => void reply.header('cache-control', 'no-store'));
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
