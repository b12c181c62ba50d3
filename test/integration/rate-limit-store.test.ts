import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRateLimitStore } from '../../src/api/rate-limit-store.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { testConfig } from '../support/harness.ts';
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
});
