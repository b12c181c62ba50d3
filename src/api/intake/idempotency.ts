import { createHash, createHmac } from 'node:crypto';
import type { RedisClient } from '../../shared/redis.ts';
import { AppError, QueueUnavailableError, withDeadline } from '../../shared/errors.ts';

// Idempotency-Key (IETF httpapi draft): the same key with the same body returns the first answer
// and enqueues nothing; the same key with another body is 422; the same key while the first
// request is still running is 409. Keys are scoped per client and expire after a window.
// Stored in Redis next to the queue: only an HMAC of the validated patient and our own answer
// (ids), never the body. An HMAC, not a plain SHA-256: with a plain digest, anyone who reads Redis
// (or a dump of it) could confirm a guessed record (a known patient's name, hn, dates) against it
// for a day. Its key (API_IDEMPOTENCY_SECRET, src/api/idempotency-secret.ts) is the same on every
// replica. The digest is of the normalized record, so key order and unknown properties do not make
// a retry look like a different request. One key per claim and only single-key commands (SET
// NX/XX, GET, DEL): safe on a Redis Cluster as they are.

export type StoredAnswer = { status: number; body: unknown; location?: string };
/** `hash`: a plain SHA-256 written before the HMAC; compared (never written) until its TTL has passed. */
type Entry = { mac: string; answer?: StoredAnswer } | { mac?: undefined; hash: string; answer?: StoredAnswer };

export class IdempotencyError extends AppError {}

const KEY_RE = /^[\x21-\x7E]{1,255}$/;

export type Idempotency = {
  /**
   * Claims the key; returns the stored answer when this is a replay. `deadline` (epoch ms): the
   * request's bound, shared with its enqueue (default: now + timeoutMs).
   */
  begin: (client: string, key: string, body: unknown, deadline?: number) => Promise<{ replay?: StoredAnswer; finish: (a: StoredAnswer) => Promise<void>; abort: () => Promise<void> }>;
};

/** `secret`: the HMAC key; `timeoutMs`: each step waits for Redis at most this long (API_ENQUEUE_TIMEOUT_MS), then 503. */
export function createIdempotency(redis: RedisClient, prefix: string, secret: Buffer, ttlSeconds: number, claimSeconds = 10, timeoutMs = 1500): Idempotency {
  const bounded = <T>(step: Promise<T>, deadline = Date.now() + timeoutMs) => withDeadline(step, deadline, () => new QueueUnavailableError());
  return {
    async begin(client, key, body, deadline = Date.now() + timeoutMs) {
      const claiming = claim(client, key, body);
      try {
        return await bounded(claiming, deadline);
      } catch (err) {
        // A claim Redis takes after the 503 would hold the key against the client's retry: let it go.
        claiming.then((late) => late.abort(), () => {}).catch(() => {});
        if (err instanceof AppError) throw err;
        throw new QueueUnavailableError(); // Redis not reachable: nothing can be promised
      }
    },
  };

  async function claim(client: string, key: string, body: unknown): ReturnType<Idempotency['begin']> {
    if (!KEY_RE.test(key)) throw new IdempotencyError('IDEMPOTENCY_KEY_INVALID', 400, 'Idempotency-Key must be 1-255 visible ASCII characters');
    const redisKey = `${prefix}:idem:${createHash('sha256').update(`${client}\n${key}`).digest('hex')}`;
    const text = JSON.stringify(body) ?? '';
    const mac = createHmac('sha256', secret).update(text).digest('hex');
    // The claim is short-lived: a request that dies before its answer is stored frees the key soon.
    const claimed = await redis.set(redisKey, JSON.stringify({ mac } satisfies Entry), 'EX', Math.min(claimSeconds, ttlSeconds), 'NX');
    const finish = async (answer: StoredAnswer) => {
      await bounded(redis.set(redisKey, JSON.stringify({ mac, answer } satisfies Entry), 'EX', ttlSeconds, 'XX'));
    };
    const abort = async () => {
      await bounded(redis.del(redisKey));
    };
    if (claimed === 'OK') return { finish, abort };
    const raw = await redis.get(redisKey);
    const entry = raw ? (JSON.parse(raw) as Entry) : undefined;
    if (!entry) return claim(client, key, body); // expired between SET and GET: claim again
    const same = entry.mac !== undefined ? entry.mac === mac : entry.hash === createHash('sha256').update(text).digest('hex');
    if (!same) {
      throw new IdempotencyError('IDEMPOTENCY_KEY_REUSED', 422, 'this Idempotency-Key was used with a different body');
    }
    if (!entry.answer) {
      throw new IdempotencyError('IDEMPOTENCY_IN_PROGRESS', 409, 'a request with this Idempotency-Key is still being processed; retry shortly');
    }
    return { replay: entry.answer, finish: async () => {}, abort: async () => {} };
  }
}
