import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// Per-patient write lock in Redis, held only while one batch writes a patient.
//
// On MongoDB the guarded replace (filter `_ingest.version < v`) is one atomic operation and needs
// no lock. FerretDB v1 executes the same update as read, compare, then write-by-_id: two workers
// writing one patient at once can both pass the compare and the older one can land last (seen in
// 18 of 30 rounds of 40 concurrent writes). The lock makes writers of one patient take turns, on
// every server, so "newest wins" holds there too, and lets batch-write.ts trust a read of the
// stored versions made under it. A lock of a worker that died expires after ttlMs.

export type WriteLock = {
  /** Takes the free ones among `ids` without waiting; answers the ids now held. */
  acquire: (ids: number[]) => Promise<Set<number>>;
  /** Frees ids held by this process; a lock that expired and was taken by another stays theirs. */
  release: (ids: number[]) => Promise<void>;
};

const RELEASE = `
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n`;

export function createWriteLock(redis: Redis, keyPrefix: string, ttlMs: number): WriteLock {
  // One token per writer: a writer runs one batch at a time, so it never holds a patient twice.
  const token = randomBytes(12).toString('hex');
  const key = (id: number) => `${keyPrefix}:${id}`;
  const release = async (ids: number[]) => {
    if (ids.length > 0) await redis.eval(RELEASE, ids.length, ...ids.map(key), token);
  };
  return {
    release,
    async acquire(ids) {
      if (ids.length === 0) return new Set();
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.set(key(id), token, 'PX', ttlMs, 'NX');
      const replies = (await pipeline.exec()) ?? [];
      const held = new Set(ids.filter((_, i) => replies[i]?.[1] === 'OK'));
      const failed = replies.find(([err]) => err)?.[0];
      if (failed || replies.length !== ids.length) {
        await release([...held]).catch(() => {}); // else they expire
        throw failed ?? new Error('lock replies missing');
      }
      return held;
    },
  };
}
