import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../../src/shared/queue.ts';
import { createRedis, readyOrTimeout } from '../../src/shared/redis.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { redisServer, started, type LocalServer } from '../support/local-servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/fault-proxy.ts';
import { captureLogger, testConfig, type CapturedLogs } from '../support/harness.ts';
import { post } from '../support/http.ts';
import { until } from '../support/records.ts';

// A Redis of this file's own (appendonly yes, appendfsync always), so it can be killed and started
// without touching other files; the API reaches it directly or through a proxy that can hold its replies.
let redis: LocalServer;
let proxy: TcpProxy;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-redis-outage-'));
  redis = await started(redisServer({ dataDir: dir, fsync: 'always' }));
  proxy = await startTcpProxy(redis.url);
});
afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The real app on `redisUrl`, no worker: what it acknowledges stays queued. */
async function apiOn(redisUrl: string, overrides: Record<string, string> = {}): Promise<{ app: FastifyInstance; logs: CapturedLogs; close: () => Promise<void> }> {
  const config = testConfig({ REDIS_URL: redisUrl, ...overrides });
  const producer = createRedis(config.REDIS_URL, 'producer');
  producer.on('error', () => {});
  const settings = queueSettings(config);
  const queue = new Queue<PatientJobData, PatientJobResult>(settings.name, { connection: producer, prefix: settings.prefix, defaultJobOptions: settings.jobOptions });
  queue.on('error', () => {});
  await readyOrTimeout(producer, 5000); // connected before the first request, as run-api.ts starts it
  const { logger, logs } = captureLogger('api');
  const store = createStore(config);
  const app = await buildApp({ config, logger, queues: [queue], redis: producer, store });
  return {
    app,
    logs,
    async close() {
      await app.close();
      proxy.holdReplies(false);
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      producer.disconnect();
      await store.close();
    },
  };
}

describe('intake while Redis is down or slow', () => {
  it('when Redis is killed (SIGKILL) after acknowledging records, then POST and /health/ready answer 503 while it is down, and after its restart every acknowledged record is still queued and POST answers 202', async () => {
    const api = await apiOn(redis.url);
    try {
      // Concurrent requests: several records in one job, each acknowledged once Redis has it (fsync always).
      const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => post(api.app, { ...SEED_SAMPLE, id: 100 + i })));
      expect(acks.map((a) => a.statusCode)).toEqual(Array(20).fill(202));

      await redis.kill(); // no shutdown: whatever Redis had not written to its AOF is gone
      const during = await post(api.app, SEED_SAMPLE);
      expect(during.statusCode).toBe(503);
      expect(during.headers['retry-after']).toBe('5');
      expect(during.json()).toMatchObject({ status: 503, detail: expect.stringMatching(/did not confirm the record/) });
      const ready = await api.app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'unavailable', checks: { redis: 'down' } });

      await redis.start();
      let after = during;
      await until('POST answers 202 again', 15_000, async () => (after = await post(api.app, { ...SEED_SAMPLE, id: 200 })).statusCode === 202, 100, async () => after.body);
      // Every record acknowledged before the crash survived it (AOF, appendfsync always).
      const states = await Promise.all(acks.map(async (a) => (await api.app.inject({ method: 'GET', url: a.json().statusUrl })).json()));
      expect(states.map((s) => [s.state, s.patientId])).toEqual(acks.map((_, i) => ['queued', 100 + i]));
      expect(api.logs.text()).toContain('enqueue failed');
    } finally {
      await api.close();
    }
  });

  it('when Redis answers slower than API_ENQUEUE_TIMEOUT_MS, then POST answers 503 with Retry-After while the replies are still held, and 202 once they flow', async () => {
    // The depth reading is taken on every request (no cache): it meets the slow Redis too.
    const api = await apiOn(proxy.url, { API_ENQUEUE_TIMEOUT_MS: '1000', QUEUE_DEPTH_REFRESH_MS: '0' });
    try {
      // Before the hold, Redis answers in bound; on a loaded CI machine the first connect can still
      // exceed it, so wait for the first 202 rather than expecting it from the first try.
      let first = await post(api.app, { ...SEED_SAMPLE, id: 300 });
      await until('POST answers 202 before the hold', 15_000, async () => first.statusCode === 202 || (first = await post(api.app, { ...SEED_SAMPLE, id: 300 })).statusCode === 202, 100, async () => first.body);
      proxy.holdReplies(true);
      // The answer comes while Redis has not replied to anything: the bound, not Redis, ended the wait.
      const slow = await post(api.app, { ...SEED_SAMPLE, id: 301 });
      expect(slow.statusCode, slow.body).toBe(503);
      expect(slow.headers['retry-after']).toBe('5');
      expect(slow.json()).toMatchObject({ status: 503, code: 'QUEUE_UNAVAILABLE' });
      proxy.holdReplies(false);
      let after = slow;
      await until('POST answers 202 again', 15_000, async () => (after = await post(api.app, { ...SEED_SAMPLE, id: 302 })).statusCode === 202, 100, async () => after.body);
    } finally {
      await api.close();
    }
  });
});
