import { Redis, type RedisOptions } from 'ioredis';

/**
 * The API's producer fails fast (no offline queue, one retry) so a dead Redis turns into a quick
 * 503 instead of a hanging request; the worker waits forever (BullMQ requires
 * maxRetriesPerRequest: null for blocking commands) and resumes by itself when Redis returns.
 */
export function createRedis(url: string, role: 'producer' | 'worker'): Redis {
  const common: RedisOptions = {
    connectionName: `hemo-${role}`,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
  };
  const options: RedisOptions =
    role === 'producer'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }
      : { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
  return new Redis(url, options);
}

/**
 * Resolves when the connection is ready, or after `ms` anyway: a producer that starts while Redis
 * is down still starts (and answers 503) instead of failing its first requests needlessly.
 */
export function readyOrTimeout(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
