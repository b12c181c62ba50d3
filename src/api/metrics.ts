import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { requireScope } from './auth.ts';
import { allPartitions, registerQueueDepth } from '../shared/queue-metrics.ts';
import type { PatientQueue } from '../shared/queue.ts';

// Prometheus metrics of the API. Labels are routes, methods, status codes, reasons and queue
// states and partitions: never ids or patient values.

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export function createApiMetrics(queues: PatientQueue[], devMode = false) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [registry] });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const enqueued = new Counter({ name: 'patients_enqueued_total', help: 'Patient jobs acknowledged (202) by endpoint', labelNames: ['endpoint'] as const, registers: [registry] });
  const rejected = new Counter({ name: 'patients_rejected_total', help: 'Patients refused before enqueueing, by reason', labelNames: ['reason'] as const, registers: [registry] });
  // An alert on this being 1 anywhere but a laptop catches a development-mode API.
  new Gauge({ name: 'api_auth_dev_mode', help: '1 when the API runs in development mode (no API keys, every caller is admin)', registers: [registry] }).set(devMode ? 1 : 0);
  registerQueueDepth(registry, allPartitions(queues));
  return { registry, requests, latency, enqueued, rejected };
}

/** For the root instance's onResponse hook (a hook inside a plugin would see only its own routes). */
export function observeRequest(metrics: ApiMetrics, request: FastifyRequest, reply: FastifyReply): void {
  const route = request.routeOptions.url ?? '(unmatched)';
  metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
  metrics.latency.observe({ route, method: request.method }, reply.elapsedTime / 1000);
}

type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Not public: queue depths and request rates are an attacker's map. Prometheus scrapes with an `ops` key. */
export async function metricsRoute(app: FastifyInstance, { metrics, authenticate }: { metrics: ApiMetrics; authenticate: Authenticate }): Promise<void> {
  app.addHook('onRequest', authenticate);
  app.addHook('onRequest', async (request) => requireScope(request, 'ops'));
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
