import type { FastifyInstance } from 'fastify';
import { withTimeout } from './errors.ts';

// /health/live and /health/ready for both processes: liveness is "the process answers"; readiness
// is "every dependency answers within its bound", with each check's state in the body.

export type ReadinessCheck = () => Promise<unknown>;

export type HealthOptions = {
  checks: Record<string, ReadinessCheck>;
  checkTimeoutMs: number;
  /** Route options for /health/live (the API lets it through @fastify/under-pressure: busy is not dead). */
  liveRouteConfig?: Record<string, unknown>;
};

export async function healthRoutes(app: FastifyInstance, o: HealthOptions): Promise<void> {
  app.get('/health/live', { config: o.liveRouteConfig ?? {} }, async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const names = Object.keys(o.checks);
    const states = await Promise.all(names.map((name) => withTimeout(o.checks[name]!(), o.checkTimeoutMs, () => new Error('timeout')).then(() => 'ok' as const, () => 'down' as const)));
    const ok = states.every((s) => s === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(names.map((n, i) => [n, states[i]])) });
  });
}
