import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { SEED_SAMPLE } from '../../src/shared/patient-fields.ts';
import { queueSettings, type PatientJobData } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { redisServer, started, type LocalServer } from '../../scripts/local-servers.ts';
import { captureLogger, testConfig } from '../support/harness.ts';

// A Redis of this file's own, so it can be stopped and started without touching other files.
let redis: LocalServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-redis-outage-'));
  redis = await started(redisServer({ dataDir: dir }));
});
afterAll(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('intake while Redis is down', () => {
  it('when Redis stops, then POST answers 503 quickly instead of 202, and 202 again once Redis is back', async () => {
    const config = testConfig({ REDIS_URL: redis.url, API_ENQUEUE_TIMEOUT_MS: '1500' });
    const producer = createRedis(config.REDIS_URL, 'producer');
    producer.on('error', () => {});
    const settings = queueSettings(config);
    const queue = new Queue<PatientJobData>(settings.name, { connection: producer, prefix: settings.prefix });
    queue.on('error', () => {});
    const { logger, logs } = captureLogger('api');
    const store = createStore(config);
    const app = await buildApp({ config, logger, queues: [queue], redis: producer, store });
    const post = () => app.inject({ method: 'POST', url: '/api/patients', payload: SEED_SAMPLE });
    try {
      const before = await post();
      expect(before.statusCode).toBe(202);

      await redis.stop();
      const started = Date.now();
      const during = await post();
      const elapsed = Date.now() - started;
      expect(during.statusCode).toBe(503);
      expect(during.headers['retry-after']).toBeDefined();
      expect(during.json()).toMatchObject({ status: 503, detail: expect.stringMatching(/did not confirm the record/) });
      // Not a benchmark: the bound is the configured enqueue timeout, i.e. "does not hang".
      expect(elapsed).toBeLessThan(2000);

      await redis.start();
      let after = await post();
      for (let i = 0; i < 100 && after.statusCode !== 202; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await post();
      }
      expect(after.statusCode).toBe(202);
      // The record acknowledged before the outage survived the restart (AOF, fsync always).
      const status = await app.inject({ method: 'GET', url: before.json().statusUrl });
      expect(status.statusCode).toBe(200);
      expect(status.json()).toMatchObject({ state: 'queued', patientId: SEED_SAMPLE.id });
      expect(logs.text()).toContain('enqueue failed');
    } finally {
      await app.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      producer.disconnect();
      await store.close();
    }
  });
});
