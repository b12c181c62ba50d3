import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from './errors.ts';

/** `queue_jobs{state}`, read from Redis at scrape time; served by the API and the worker alike. */
export function registerQueueDepth(registry: Registry, queue: Pick<Queue, 'getJobCounts'>): void {
  new Gauge({
    name: 'queue_jobs',
    help: 'Jobs in the patient queue by state (read from Redis at scrape time)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      // Redis down: keep the last values rather than failing (or hanging) the whole scrape.
      const counts = await withTimeout(queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'), 1000, () => new Error('timeout')).catch(() => undefined);
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
    },
  });
}
