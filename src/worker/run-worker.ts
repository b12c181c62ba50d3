// The worker process (after main.ts has started tracing): connections, HTTP side, signals. The worker itself is built in create-worker.ts.
import { Queue } from 'bullmq';
import type { Config } from '../shared/config.ts';
import { onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { createStore } from '../shared/mongo.ts';
import { parsePartitionList } from '../shared/partitions.ts';
import { queueSettings } from '../shared/queue.ts';
import { redisFor } from '../shared/redis.ts';
import { createAuditLog } from './audit.ts';
import { createWorker } from './create-worker.ts';
import { buildWorkerHttp } from './http.ts';
import { createWorkerMetrics } from './metrics.ts';
import { createObserver } from './observer.ts';
import type { Tracing } from '../shared/tracing.ts';

export async function runWorker(config: Config, tracing: Tracing | undefined): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const store = createStore(config);
  const connection = redisFor(config, 'worker');
  // Queue counts for the metrics (this process's partitions); share the worker's connection (non-blocking commands only).
  const { names } = queueSettings(config);
  const counts = (parsePartitionList(config.WORKER_PARTITIONS, config.QUEUE_PARTITIONS) as number[]).map((partition) => ({ partition, queue: new Queue(names[partition]!, { connection, prefix: config.QUEUE_PREFIX }) }));
  for (const { queue } of counts) queue.on('error', () => {}); // the worker reports connection trouble itself
  const metrics = createWorkerMetrics(counts);
  const { close } = createWorker({ config, connection, store, logger, observer: createObserver(metrics, createAuditLog(store.audit)), tracing });
  const http = await buildWorkerHttp({ redis: connection, store, metrics, logger });
  await http.listen({ host: config.WORKER_HTTP_HOST, port: config.WORKER_HTTP_PORT });
  logger.info({ queue: config.QUEUE_NAME, partitions: counts.map((c) => c.partition), concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, async () => {
    await close(async () => {
      await Promise.all([http.close(), ...counts.map(({ queue }) => queue.close()), store.close(), tracing?.shutdown()]);
    });
    connection.disconnect();
  });
}
