import { randomBytes } from 'node:crypto';
import type { Config } from '../../shared/config/config.ts';
import type { RedisClient } from '../../shared/redis.ts';

// Per-patient write lock in Redis, held only while one batch writes a patient, and only on a
// server that cannot run the guarded replace atomically (write-strategy.ts).
//
// FerretDB v1 executes the guarded update as read, compare, then write-by-_id: two workers writing
// one patient at once can both pass the compare and the older one can land last (seen in 18 of 30
// rounds of 40 concurrent writes). The lock makes writers of one patient take turns, so "newest
// wins" holds there too. A lock of a worker that died expires after ttlMs.

export type LockKey = string | number;

export type Lease = {
  /** The keys this lease holds (a subset of those asked for: the others are held elsewhere). */
  held: Set<LockKey>;
  /** Frees them; a lock that expired and was taken by another stays theirs. */
  release: () => Promise<void>;
};

export type WriteLock = { acquire: (keys: LockKey[]) => Promise<Lease> };

const RELEASE = `
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n`;

/**
 * The lock keys' prefix, one per queue prefix and database: shared by the worker and migrate-keys.
 * On a cluster the keys share a hash tag: a lease takes and frees many at once (one pipeline, one
 * script), which must stay within one slot.
 */
export const writeLockPrefix = (config: Pick<Config, 'QUEUE_PREFIX' | 'MONGO_DB' | 'REDIS_CLUSTER_NODES'>) =>
  config.REDIS_CLUSTER_NODES.length > 0 ? `${config.QUEUE_PREFIX}:{write-lock:${config.MONGO_DB}}` : `${config.QUEUE_PREFIX}:write-lock:${config.MONGO_DB}`;

export function createWriteLock(redis: RedisClient, keyPrefix: string, ttlMs: number): WriteLock {
  const key = (id: LockKey) => `${keyPrefix}:${String(id)}`;
  const releaser = (keys: LockKey[], token: string) => async () => {
    if (keys.length > 0) await redis.eval(RELEASE, keys.length, ...keys.map(key), token);
  };
  return {
    async acquire(keys) {
      // One token per lease: concurrent batches of one process never free each other's locks.
      const token = randomBytes(12).toString('hex');
      if (keys.length === 0) return { held: new Set(), release: async () => {} };
      const pipeline = redis.pipeline();
      for (const id of keys) pipeline.set(key(id), token, 'PX', ttlMs, 'NX');
      const replies = (await pipeline.exec()) ?? [];
      const held = keys.filter((_, i) => replies[i]?.[1] === 'OK');
      const release = releaser(held, token);
      const failed = replies.find(([err]) => err)?.[0];
      if (failed || replies.length !== keys.length) {
        await release().catch(() => {}); // else they expire
        throw failed ?? new Error('lock replies missing');
      }
      return { held: new Set(held), release };
    },
  };
}

/**
 * Jobs of ONE process take turns per patient here, in order of arrival, before they ask Redis: a
 * batch job waits for the patients another of this process's jobs is writing instead of polling
 * Redis against its own process (which starved hot patients into PATIENT_BUSY). Local locks are
 * taken in sorted key order and never held while waiting for others, so two jobs cannot deadlock;
 * keys Redis refuses (held by another process) are freed locally at once.
 */
export function withLocalTurns(inner: WriteLock): WriteLock {
  const tails = new Map<string, Promise<void>>();
  const take = async (key: string): Promise<() => void> => {
    const before = tails.get(key) ?? Promise.resolve();
    let free!: () => void;
    const mine = new Promise<void>((resolve) => (free = resolve));
    const tail = before.then(() => mine);
    tails.set(key, tail);
    await before;
    return () => {
      free();
      if (tails.get(key) === tail) tails.delete(key);
    };
  };
  return {
    async acquire(keys) {
      const sorted = [...new Set(keys)].sort((a, b) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
      const local = new Map<LockKey, () => void>();
      for (const k of sorted) local.set(k, await take(String(k)));
      let lease: Lease;
      try {
        lease = await inner.acquire(sorted);
      } catch (err) {
        for (const free of local.values()) free();
        throw err;
      }
      for (const [k, free] of local) if (!lease.held.has(k)) free();
      let released = false;
      return {
        held: lease.held,
        release: async () => {
          if (released) return;
          released = true;
          try {
            await lease.release();
          } finally {
            for (const k of lease.held) local.get(k)?.();
          }
        },
      };
    },
  };
}
