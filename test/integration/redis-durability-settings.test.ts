import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRedis, readyOrTimeout } from '../../src/shared/redis.ts';

// A SIGKILLed Redis cannot tell `appendfsync always` from `everysec`: the kernel still holds what was
// written, so both keep every acknowledged job (integration/redis-outage, faults/http-load-kills).
// Only a machine crash or power loss tells them apart, and that cannot be staged here. So the setting
// itself is checked on the Redis the tests run against (and in docker-compose.yml: unit/deploy/compose).
const redis = createRedis(inject('redisUrl'), 'producer');
afterAll(() => redis.disconnect());

describe('the Redis the tests run against', () => {
  it('when its durability settings are read, then it keeps an append-only file synced on every write, and evicts nothing', async () => {
    await readyOrTimeout(redis, 5000);
    const setting = async (name: string) => ((await redis.config('GET', name)) as string[])[1];
    expect({ appendonly: await setting('appendonly'), appendfsync: await setting('appendfsync'), policy: await setting('maxmemory-policy') }).toEqual({
      appendonly: 'yes',
      appendfsync: 'always',
      policy: 'noeviction',
    });
  });

  it('when the run says which servers it uses (TEST_SERVERS), then the Redis is that one: a container\'s is PID 1 of its own PID namespace, a local one never is', async () => {
    await readyOrTimeout(redis, 5000);
    const pid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))![1]);
    if (inject('serversKind') === 'containers') expect(pid).toBe(1);
    if (inject('serversKind') === 'local') expect(pid).toBeGreaterThan(1);
  });
});
