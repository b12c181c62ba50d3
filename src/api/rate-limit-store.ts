import type { Config } from '../shared/config/config.ts';
import type { RedisClient } from '../shared/redis.ts';

// A store for @fastify/rate-limit that costs no Redis round trip per request. Each process counts
// locally in fixed windows (aligned to the epoch, so all processes share them) and, every
// `syncMs`, adds its new counts to one Redis counter per key and window (INCRBY, one pipeline)
// and learns the total of all processes from the reply. A request is judged on the last known
// total plus this process's own count since: across N processes the limit can be overshot by at
// most what they admit in one sync interval. Redis down: counting goes on locally (the enqueue
// answers 503 anyway), and the counts are sent once it is back.

/**
 * The counters' key prefix. On a cluster one pipeline must stay within one slot, so all counters
 * share a hash tag there (one small key per API key and window: no hot spot worth spreading).
 */
export const rateLimitNamespace = (c: Pick<Config, 'QUEUE_PREFIX' | 'QUEUE_NAME' | 'REDIS_CLUSTER_NODES'>) =>
  c.REDIS_CLUSTER_NODES.length > 0 ? `${c.QUEUE_PREFIX}:{${c.QUEUE_NAME}:ratelimit}:` : `${c.QUEUE_PREFIX}:${c.QUEUE_NAME}:ratelimit:`;

type Window = { index: number; known: number; unsent: number; inFlight: number };
type Callback = (err: Error | null, res: { current: number; ttl: number }) => void;

export type RateLimitStoreOptions = { redis: RedisClient; namespace: string; syncMs?: number };

export function createRateLimitStore({ redis, namespace, syncMs = 100 }: RateLimitStoreOptions) {
  const windows = new Map<string, Window>();
  let timer: NodeJS.Timeout | undefined;
  let windowMs = 60_000;

  const sync = async () => {
    timer = undefined;
    const now = Math.floor(Date.now() / windowMs);
    const batch: [string, Window, number][] = [];
    for (const [key, w] of windows) {
      if (w.index < now) windows.delete(key); // a past window: nothing more to learn
      else if (w.unsent > 0) batch.push([key, w, w.unsent]);
    }
    if (batch.length === 0) return;
    const pipeline = redis.pipeline();
    for (const [key, w, n] of batch) {
      w.unsent -= n;
      w.inFlight += n;
      const redisKey = `${namespace}${key}:${w.index}`;
      pipeline.incrby(redisKey, n).pexpire(redisKey, windowMs * 2);
    }
    const replies = await pipeline.exec().catch(() => null);
    batch.forEach(([, w, n], i) => {
      w.inFlight -= n;
      const total = replies?.[i * 2]?.[1];
      if (typeof total === 'number') w.known = Math.max(w.known, total - w.inFlight);
      else w.unsent += n; // not counted in Redis: send again next time
    });
    if (batch.some(([, w]) => w.unsent > 0)) schedule();
  };

  const schedule = () => {
    timer ??= setTimeout(() => void sync(), syncMs).unref();
  };

  /** The interface @fastify/rate-limit expects of a store class (`new Store(options)`). */
  return class ReconcilingStore {
    constructor(options: { timeWindow?: number }) {
      if (typeof options?.timeWindow === 'number') windowMs = options.timeWindow;
    }

    incr(key: string, cb: Callback, timeWindow = windowMs): void {
      windowMs = timeWindow;
      const now = Date.now();
      const index = Math.floor(now / timeWindow);
      let w = windows.get(key);
      if (!w || w.index !== index) windows.set(key, (w = { index, known: 0, unsent: 0, inFlight: 0 }));
      w.unsent++;
      schedule();
      cb(null, { current: w.known + w.inFlight + w.unsent, ttl: (index + 1) * timeWindow - now });
    }

    read(key: string, cb: Callback, timeWindow = windowMs): void {
      const now = Date.now();
      const w = windows.get(key);
      const live = w && w.index === Math.floor(now / timeWindow);
      cb(null, { current: live ? w.known + w.inFlight + w.unsent : 0, ttl: live ? (w.index + 1) * timeWindow - now : 0 });
    }

    child(): ReconcilingStore {
      return this;
    }
  };
}
