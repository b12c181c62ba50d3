// The worker process (after main.ts has started tracing): connections, HTTP side, signals. The worker itself is built in create-worker.ts.
import type { Config } from '../shared/config/config.ts';
import { onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { openConsumer } from '../shared/connections.ts';
import { parsePartitionList } from '../shared/partitions.ts';
import { createAuditLog } from './audit.ts';
import { createWorker } from './create-worker.ts';
import { buildWorkerHttp } from './http.ts';
import { createWorkerMetrics } from './metrics.ts';
import { createObserver } from './observer.ts';
import type { Tracing } from '../shared/tracing/tracing.ts';

export async function runWorker(config: Config, tracing: Tracing | undefined): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const { redis: connection, store, partitionQueues, close: closeConnections } = openConsumer(config);
  // One Queue handle per partition this process takes: the metrics' counts and the dead-letter sweep.
  const counts = partitionQueues(parsePartitionList(config.WORKER_PARTITIONS, config.QUEUE_PARTITIONS) as number[]);
  const metrics = createWorkerMetrics(counts);
  const queueOf = (partition: number) => counts.find((c) => c.partition === partition)?.queue;
  // A server the write path is not made for (or a `w` it cannot satisfy) is a configuration error: exit 2, as for bad variables.
  const onRefused = () => {
    setTimeout(() => process.exit(2), 3000).unref(); // closing is best effort here
    void closeConnections().finally(() => process.exit(2));
  };
  const { close } = createWorker({ config, connection, store, logger, observer: createObserver(metrics, createAuditLog(store.audit)), tracing, queueOf, onRefused });
  const http = await buildWorkerHttp({ redis: connection, store, metrics, logger });
  await http.listen({ host: config.WORKER_HTTP_HOST, port: config.WORKER_HTTP_PORT });
  logger.info({ queue: config.QUEUE_NAME, partitions: counts.map((c) => c.partition), concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, async () => {
    await close(async () => {
      await Promise.all([http.close(), ...counts.map(({ queue }) => queue.close()), tracing?.shutdown()]);
      await closeConnections();
    });
    await closeConnections(); // safe twice: if `close` gave up on the steps before, the connections still go
  });
}
