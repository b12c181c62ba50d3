import { createPatientSchema } from '../shared/patient/patient-schema.ts';
import { intakeRules } from './intake/intake-rules.ts';
import { createServer } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors.ts';
import { accessAuditCollection, createAccessAudit } from '../shared/access-audit.ts';
import { adminPlugin } from './admin.ts';
import { createAuthenticator, devMode, type Client } from './auth.ts';
import { createBadKeyLimit } from './bad-key-limit.ts';
import { deadLetterRoutes } from './dead-letter-routes.ts';
import { createIntake } from './intake/intake.ts';
import { createReceipts } from './intake/receipts.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { newRequestId, requestLogLine, type LogFields } from './request-log.ts';
import { unknownRoutes } from './unknown-route.ts';
import { createApiMetrics, metricsRoute, observeRequest } from './metrics.ts';
import { docsPlugin } from './openapi/plugin.ts';
import { errorHandler, notFoundHandler, sendProblem } from './problem.ts';
import { batchRoutes } from './routes/batch.ts';
import { apiHealthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { submissionRoutes } from './routes/submissions.ts';
import { patientReadRoutes } from './routes/patient-read.ts';
import { patientRoutes } from './routes/patients.ts';
import { createRateLimitStore, rateLimitNamespace } from './rate-limit-store.ts';
import { createReplicaWait } from '../shared/replica-wait.ts';
import type { AppDeps, RouteDeps } from './route-deps.ts';
import { boundedJsonParsers } from './json-depth.ts';

// Path parameters longer than a route allows are that route's own 400 (dead-letter-routes.ts); a URL
// is bounded by the header size anyway. Fastify's default (100) answered 414 in its own format.
const MAX_PARAM_LENGTH = 2000;

export type { AppDeps } from './route-deps.ts';

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
    // Our own id for every request; a client's X-Request-Id is only logged beside it (request-log.ts).
    requestIdHeader: false,
    genReqId: newRequestId,
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH }, // a longer id is our 400 (dead-letter-routes.ts), never Fastify's 414
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
  const metrics = createApiMetrics(deps.queues, devMode(config));
  const intake = createIntake({
    queues: deps.queues,
    confirm: createReplicaWait(config.REDIS_WAIT_REPLICAS, config.REDIS_WAIT_TIMEOUT_MS),
    metrics,
    log: deps.logger as FastifyBaseLogger,
    maxWaitingRecords: config.QUEUE_MAX_WAITING,
    maxMemoryPercent: config.QUEUE_MAX_MEMORY_PERCENT,
    jobMaxRecords: config.JOB_MAX_RECORDS,
    jobMaxBytes: config.JOB_MAX_BYTES,
    enqueueTimeoutMs: config.API_ENQUEUE_TIMEOUT_MS,
    depthRefreshMs: config.QUEUE_DEPTH_REFRESH_MS,
    ...(deps.tracing ? { traceparent: deps.tracing.traceparent } : {}),
  });
  app.addHook('onClose', async () => intake.flush());
  const accessAudit = createAccessAudit(accessAuditCollection(deps.store.db));
  const receipts = createReceipts(deps.redis, `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}`, config.JOB_KEEP_COMPLETED_AGE_S);
  const routeDeps: RouteDeps = { ...deps, metrics, intake, accessAudit, receipts, intakeSchema: createPatientSchema(intakeRules(config)) };
  const authenticate = createAuthenticator(config, createBadKeyLimit(config.AUTH_FAIL_MAX, config.AUTH_FAIL_WINDOW_MS));

  const tracing = deps.tracing;
  if (tracing) app.addHook('onRequest', async (request) => tracing.nameRequest(request.method, request.routeOptions.url));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  methodNotAllowed(app);
  app.removeContentTypeParser('text/plain'); // the old endpoint never took it: a 415
  boundedJsonParsers(app); // JSON nesting bounded before it is parsed
  await app.register(formbody, { bodyLimit: config.API_BODY_LIMIT_BYTES });
  // CSP is set by the two HTML pages (/docs: swagger-ui's staticCSP, /admin/queues: admin.ts); the API answers JSON.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  unknownRoutes(app, config.API_BODY_LIMIT_BYTES); // after the 405 check and helmet's headers, before any body is read
  if (devMode(config)) app.addHook('onSend', async (_request, reply) => void reply.header('x-auth-dev-mode', 'true'));
  await app.register(underPressure, {
    maxEventLoopDelay: config.API_MAX_EVENT_LOOP_DELAY_MS,
    // Near the heap limit (NODE_OPTIONS --max-old-space-size), shed load with 503 rather than crash.
    maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.85),
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
    request.log.info(requestLogLine(request, reply), 'request');
  });

  await app.register(metricsRoute, { metrics: routeDeps.metrics, authenticate });
  await app.register(apiHealthRoutes, { redis: deps.redis });
  await app.register(docsPlugin, deps);
  await app.register(async (api) => {
    // Patient data and job states must not sit in a browser's or a proxy's cache.
    api.addHook('onRequest', async (_request, reply) => void reply.header('cache-control', 'no-store'));
    api.addHook('onRequest', authenticate);
    await api.register(rateLimit, {
      // Counted locally, reconciled with Redis every 100 ms: no round trip of its own per request.
      store: createRateLimitStore({ redis: deps.redis, namespace: rateLimitNamespace(config) }),
      max: config.RATE_LIMIT_MAX,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      // onRequest, after authentication (registered before it): the limit is per key and a refused
      // request's body is never read or parsed.
      hook: 'onRequest',
      keyGenerator: (request) => `key:${request.client.id}`,
      errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', 429, `too many requests for this API key; retry in ${Math.ceil(context.ttl / 1000)} s`),
    });
    for (const routes of [patientRoutes, patientReadRoutes, batchRoutes, jobRoutes, submissionRoutes, deadLetterRoutes]) await api.register(routes, routeDeps);
  });
  await app.register(adminPlugin, { queues: deps.queues, authenticate });
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Extra fields for the one log line per request (request-log.ts): our ids and counts only. */
    logFields: LogFields | null;
    /** The authenticated API key (set for /api and /admin routes). */
    client: Client;
  }
}
