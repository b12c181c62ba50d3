import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { createRateLimitStore } from '../../src/api/rate-limit-store.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { captureLogger, createHarness, testConfig } from '../support/harness.ts';
import { until } from '../support/records.ts';

// The rate-limit store of two API processes: each its own store and its own Redis connection,
// one real Redis between them. Each counts locally and learns the global count at its syncs.

const config = testConfig();
const namespace = `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}:ratelimit:`;
const connections: Redis[] = [];
afterAll(async () => {
  const keys = await connections[0]?.keys(`${namespace}*`);
  if (keys?.length) await connections[0]!.del(...keys);
  for (const c of connections) c.disconnect();
});

// An hour's window: the test never straddles a window boundary in practice.
const WINDOW_MS = 3_600_000;
type Count = { current: number; ttl: number };

function processStore() {
  const redis = createRedis(config.REDIS_URL, 'producer');
  connections.push(redis);
  const Store = createRateLimitStore({ redis, namespace, syncMs: 20 });
  const store = new Store({ timeWindow: WINDOW_MS });
  const call = (op: 'incr' | 'read', key: string) =>
    new Promise<Count>((resolve, reject) => store[op](key, (err, res) => (err ? reject(err) : resolve(res)), WINDOW_MS));
  return { incr: (key: string) => call('incr', key), read: (key: string) => call('read', key) };
}

describe('rate-limit store shared by two processes', () => {
  it('when two processes count the same key, then each answers from its own count at once and both converge on the global count after a sync', async () => {
    const a = processStore();
    const b = processStore();
    const key = `key-${randomBytes(3).toString('hex')}`;
    let lastA: Count | undefined;
    for (let i = 0; i < 30; i++) lastA = await a.incr(key);
    let lastB: Count | undefined;
    for (let i = 0; i < 20; i++) lastB = await b.incr(key);
    // Before any sync, only what this process saw (no Redis round trip per request).
    expect(lastA!.current).toBe(30);
    expect(lastB!.current).toBeGreaterThanOrEqual(20);
    expect(lastB!.current).toBeLessThanOrEqual(50);
    expect(lastA!.ttl).toBeGreaterThan(0);
    expect(lastA!.ttl).toBeLessThanOrEqual(WINDOW_MS);

    // Each sends its counts within a sync interval; Redis holds the global count.
    const redisKey = `${namespace}${key}:${Math.floor(Date.now() / WINDOW_MS)}`;
    await until('Redis holds both counts', 5000, async () => (await connections[0]!.get(redisKey)) === '50', 20, async () => ({ redis: await connections[0]!.get(redisKey), a: await a.read(key), b: await b.read(key) }));
    expect(await connections[0]!.pttl(redisKey)).toBeGreaterThan(0); // expires on its own

    // A process learns the global count from the reply to its own next sync: after one request
    // each, both judge against everything both admitted.
    await a.incr(key);
    await until('A knows the global count of 51', 5000, async () => (await a.read(key)).current === 51, 20, async () => ({ a: await a.read(key), redis: await connections[0]!.get(redisKey) }));
    await b.incr(key);
    await until('B knows the global count of 52', 5000, async () => (await b.read(key)).current === 52, 20, async () => ({ b: await b.read(key), redis: await connections[0]!.get(redisKey) }));
    expect((await a.incr(key)).current).toBeGreaterThanOrEqual(52); // at least what A knew, plus its own
    await until('the last count sent', 5000, async () => (await connections[0]!.get(redisKey)) === '53', 20);
    expect(await connections[0]!.get(redisKey)).toBe('53');
  });

  it('when one key uses its limit across two API processes, then once they have synced both answer 429, far sooner than either would alone', async () => {
    const h = await createHarness({ RATE_LIMIT_MAX: '20', RATE_LIMIT_WINDOW_MS: String(WINDOW_MS) });
    const redis = createRedis(h.config.REDIS_URL, 'producer');
    connections.push(redis);
    // The second process: its own app, rate-limit store and Redis connection, the same queue name.
    const other = await buildApp({ config: h.config, logger: captureLogger('api-2').logger, queues: h.queues, redis, store: h.store });
    const get = (app: typeof other) => app.inject({ method: 'GET', url: '/api/patients/jobs/999999' }).then((r) => r.statusCode);
    const counter = `${h.config.QUEUE_PREFIX}:${h.config.QUEUE_NAME}:ratelimit:key:dev:${Math.floor(Date.now() / WINDOW_MS)}`;
    try {
      const first: number[] = [];
      for (let i = 0; i < 10; i++) first.push(await get(h.app), await get(other));
      expect(first).toEqual(first.map(() => 404)); // 10 of 20 on each: admitted
      await until('Redis holds both processes\' 20', 5000, async () => (await redis.get(counter)) === '20', 20, () => redis.get(counter));

      // Alone, each would admit 10 more. Sharing the count, each admits at most what it takes
      // until its next sync tells it the total.
      let seen: number[] = [];
      let admittedAfter = 0;
      let rounds = 0;
      await until('both processes answer 429', 10_000, async () => {
        seen = [await get(h.app), await get(other)];
        rounds++;
        admittedAfter += seen.filter((s) => s !== 429).length;
        if (seen[0] === 429 && seen[1] === 429) return true;
        // Each round waits until both processes have sent its counts (every request is counted, 429
        // or not), so what they admit is set by the protocol, not by how soon a loaded machine runs
        // their sync timers.
        await until('both processes synced the round', 5000, async () => Number(await redis.get(counter)) >= 20 + 2 * rounds, 20, () => redis.get(counter));
        return false;
      }, 50, async () => ({ lastStatuses: seen, admittedAfter, redis: await redis.get(counter) }));
      console.log('[rate-limit/two-processes]', JSON.stringify({ limit: 20, admittedBeforeSync: 20, admittedAfterSync: admittedAfter, redis: await redis.get(counter) }));
      expect(admittedAfter).toBeLessThan(10);
    } finally {
      await other.close();
      await h.close();
    }
  });
});
