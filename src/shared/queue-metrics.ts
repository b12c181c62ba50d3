import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from './errors.ts';

export type PartitionQueue = { partition: number; queue: Pick<Queue, 'getJobCounts'> };

/** `queue_jobs{state, partition}`, read from Redis at scrape time; served by the API (all partitions) and the worker (its own). */
export function registerQueueDepth(registry: Registry, queues: PartitionQueue[]): void {
  new Gauge({
    name: 'queue_jobs',
    help: 'Jobs in the patient queue by state and partition (read from Redis at scrape time)',
    labelNames: ['state', 'partition'] as const,
    registers: [registry],
    async collect() {
      // Redis down: keep the last values rather than failing (or hanging) the whole scrape.
      await Promise.all(
        queues.map(async ({ partition, queue }) => {
          const counts = await withTimeout(queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'), 1000, () => new Error('timeout')).catch(() => undefined);
          for (const [state, n] of Object.entries(counts ?? {})) this.set({ state, partition: String(partition) }, n);
        }),
      );
    },
  });
}

/** Every partition's queue with its number: what the API's metrics read. */
export const allPartitions = <Q>(queues: Q[]) => queues.map((queue, partition) => ({ partition, queue }));
