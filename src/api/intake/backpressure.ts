import { Cluster } from 'ioredis';
import { AppError, QueueUnavailableError, withDeadline, withTimeout } from '../../shared/errors.ts';
import type { RedisClient } from '../../shared/redis.ts';
import type { PatientQueue } from '../../shared/queue.ts';

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
 * nearly full (on a cluster: the fullest master that answers decides). A job holds
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
  const read = async (): Promise<[number[], number]> => {
    const client = (await queues[0]!.client) as unknown as RedisClient;
    if (!(client instanceof Cluster)) return Promise.all([Promise.all(queues.map((q) => q.getWaitingCount())), client.info('memory').then(memoryShare)]);
    // A master down (a failover) must not refuse the partitions of the others: what answers counts;
    // the partitions on that master answer 503 at their enqueue anyway.
    const answered = async <T>(reads: Promise<T>[]) =>
      (await Promise.allSettled(reads.map((r) => withTimeout(r, timeoutMs / 2, () => new Error('timeout'))))).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const [counts, infos] = await Promise.all([answered(queues.map((q) => q.getWaitingCount())), answered(client.nodes('master').map((n) => n.info('memory')))]);
    if (infos.length === 0) throw new Error('no master answered');
    return [counts, Math.max(...infos.map(memoryShare))];
  };
  const refresh = () =>
    (reading ??= read()
      .then(([counts, share]) => {
        depth = counts.reduce((a, b) => a + b, 0);
        memoryFull = share * 100 >= limits.maxMemoryPercent;
        readAt = Date.now();
      })
      .catch(() => {}) // Redis down: the enqueue itself answers 503
      .finally(() => (reading = undefined)));
  /** `deadline` (epoch ms): the request's own bound, when the read must share it with the enqueue. */
  return async function check(incoming = 1, deadline = Date.now() + timeoutMs): Promise<void> {
    if (Date.now() - readAt >= refreshMs) await withDeadline(refresh(), deadline, () => new QueueUnavailableError());
    if (memoryFull || depth * recordsPerJob() + incoming > limits.maxWaiting) throw new BackpressureError();
  };
}

/** used_memory / maxmemory from `INFO memory`; 0 without a maxmemory. */
export function memoryShare(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const max = field('maxmemory');
  return max > 0 ? field('used_memory') / max : 0;
}
