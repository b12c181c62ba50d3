import underPressure from '@fastify/under-pressure';
import Fastify from 'fastify';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { apiHealthRoutes } from '../../src/api/routes/health.ts';

// Busy is not dead: under overload the API answers 503 to work, but liveness must stay 200, or
// Kubernetes restarts a pod that is only loaded (and the load moves to the others).
describe('liveness under pressure', () => {
  it('when @fastify/under-pressure reports overload, then /health/live still answers 200 while other routes get 503', async () => {
    const app = Fastify();
    // An external health check that fails is the deterministic way to put the plugin under pressure.
    await app.register(underPressure, { healthCheck: async () => false, healthCheckInterval: 60_000 });
    // /health/ready is not called here, so no Redis is needed.
    await app.register(apiHealthRoutes, { redis: {} as Redis });
    app.get('/work', async () => ({ done: true }));
    try {
      await app.ready();
      expect((await app.inject({ method: 'GET', url: '/work' })).statusCode).toBe(503);
      const live = await app.inject({ method: 'GET', url: '/health/live' });
      expect(live.statusCode).toBe(200);
      expect(live.json()).toEqual({ status: 'ok' });
    } finally {
      await app.close();
    }
  });
});
