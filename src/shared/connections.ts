// The one place that opens the service's connections from its configuration: the Redis client (a
// single node or a cluster), one BullMQ queue per partition, the QueueEvents a synchronous answer
// waits on, and the MongoDB store. API, worker, CLIs, the test harness and the benchmark use it;
// each `close` is bounded (close.ts) and safe to call twice.
import { Queue, QueueEvents } from 'bullmq';
import { closer } from './close.ts';
import type { Config } from './config/config.ts';
import type { Logger } from './logger.ts';
import { createStore, type Store } from './mongo.ts';
import { queueSettings, type PatientJobData, type PatientJobResult, type PatientQueue, type QueueSettings } from './queue.ts';
import { redisFor, type RedisClient } from './redis.ts';
import type { Tracing } from './tracing/tracing.ts';
import { errorSummary } from './errors.ts';

/** How long each resource may take to say goodbye before the next one closes. */
export const CLOSE_EACH_MS = 2000;

type Options = { logger?: Logger; tracing?: Tracing | undefined };

const report = (logger: Logger | undefined, what: string, queue?: string) => (err: Error) =>
  logger?.warn({ err: errorSummary(err), ...(queue ? { queue } : {}) }, `${what} error`);

/** Producer side (API, CLIs, tests): one queue per partition on one fail-fast connection, and the store. */
export function openProducer(config: Config, opts: Options & { queueEvents?: boolean } = {}) {
  const settings: QueueSettings = queueSettings(config);
  const redis: RedisClient = redisFor(config, 'producer');
  redis.on('error', report(opts.logger, 'redis connection'));
  // One queue per partition, all on the one connection (a cluster client routes each by its slot).
  const queues: PatientQueue[] = settings.names.map((name) => {
    const queue = new Queue<PatientJobData, PatientJobResult>(name, {
      connection: redis,
      prefix: settings.prefix,
      defaultJobOptions: settings.jobOptions,
      ...(opts.tracing ? { telemetry: opts.tracing.bullmq } : {}),
    });
    queue.on('error', report(opts.logger, 'queue', name));
    return queue;
  });
  // QueueEvents hold a blocking read on a connection of their own: only for `Prefer: wait=N` answers.
  const eventsRedis = opts.queueEvents ? redisFor(config, 'worker') : undefined;
  eventsRedis?.on('error', () => {}); // BullMQ works on duplicates of it, which report their own errors
  const queueEvents = eventsRedis
    ? settings.names.map((name) => {
        const events = new QueueEvents(name, { connection: eventsRedis, prefix: settings.prefix });
        events.on('error', report(opts.logger, 'queue events', name));
        return events;
      })
    : [];
  const store: Store = createStore(config);
  const close = closer(CLOSE_EACH_MS, [
    () => Promise.all(queueEvents.map((e) => e.close())),
    () => Promise.all(queues.map((q) => q.close())),
    () => redis.disconnect(),
    () => eventsRedis?.disconnect(),
    () => store.close(),
  ]);
  return { settings, redis, queues, queueEvents, store, close };
}

/** Worker side: one connection that waits through Redis outages (BullMQ's blocking reads), and the store. */
export function openConsumer(config: Config) {
  const redis: RedisClient = redisFor(config, 'worker');
  redis.on('error', () => {}); // the worker's own listeners report connection trouble
  const store: Store = createStore(config);
  /**
   * One Queue handle per given partition, on the same connection (non-blocking commands only): the
   * worker's metrics count through them and its dead-letter sweep reads their failed jobs.
   */
  const partitionQueues = (partitions: number[]) => {
    const { names, prefix } = queueSettings(config);
    return partitions.map((partition) => {
      const queue: PatientQueue = new Queue<PatientJobData, PatientJobResult>(names[partition]!, { connection: redis, prefix });
      queue.on('error', () => {});
      return { partition, queue };
    });
  };
  const close = closer(CLOSE_EACH_MS, [() => store.close(), () => redis.disconnect()]);
  return { redis, store, partitionQueues, close };
}
