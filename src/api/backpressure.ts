import { Cluster } from 'ioredis';
import { AppError, QueueUnavailableError, withTimeout } from '../shared/errors.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { PatientQueue } from './enqueue.ts';

export class BackpressureError extends AppError {
  constructor() {
    super('QUEUE_FULL', 503, 'the queue is backed up; nothing was accepted, retry later');
  }
}

export type DepthLimits = {
  maxWaiting: number;
  /**
   * Refuse new work once Redis uses this share of its maxmemory (percent; no maxmemory: no limit).
   * Redis runs with noeviction: if the API filled it, the workers could no longer take locks, move
   * jobs or keep failures, and the queue would never drain (seen in test/faults/redis-full.test.ts).
   */
  maxMemoryPercent: number;
};

/**
 * Refuses new work while more than `maxWaiting` records wait (all partitions together) or Redis is
 * nearly full (on a cluster: any master, the fullest one decides). A job holds
 * many records, so the depth in records is the waiting jobs times the mean records per job this
 * process enqueued (an estimate that is exact for one-size jobs). Both are read from Redis at most
 * every `refreshMs` (one read shared by all requests), so the check costs nothing per request.
 * A read Redis does not answer within `timeoutMs` (the enqueue's own bound) is a 503: a slow Redis
 * must not hold a request longer than it would hold the enqueue.
 */
export function createDepthGuard(queues: PatientQueue[], limits: DepthLimits, recordsPerJob: () => number = () => 1, refreshMs = 250, timeoutMs = 1500) {
  let depth = 0;
  let memoryFull = false;
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= Promise.all([Promise.all(queues.map((q) => q.getWaitingCount())), queues[0]!.client.then((c) => fullestShare(c as unknown as RedisClient))])
      .then(([counts, share]) => {
        depth = counts.reduce((a, b) => a + b, 0);
        memoryFull = share * 100 >= limits.maxMemoryPercent;
        readAt = Date.now();
      })
      .catch(() => {}) // Redis down: the enqueue itself answers 503
      .finally(() => (reading = undefined)));
  return async function check(incoming = 1): Promise<void> {
    if (Date.now() - readAt >= refreshMs) await withTimeout(refresh(), timeoutMs, () => new QueueUnavailableError());
    if (memoryFull || depth * recordsPerJob() + incoming > limits.maxWaiting) throw new BackpressureError();
  };
}

/** The highest used/max memory share of the Redis (of every master of a cluster). */
async function fullestShare(client: RedisClient): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const infos = await Promise.all(nodes.map((n) => n.info('memory')));
  return Math.max(0, ...infos.map(memoryShare));
}

/** used_memory / maxmemory from `INFO memory`; 0 without a maxmemory. */
export function memoryShare(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const max = field('maxmemory');
  return max > 0 ? field('used_memory') / max : 0;
}
