import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerQueueDepth, type PartitionQueue } from '../shared/queue-metrics.ts';

// Prometheus metrics of the worker. Labels are outcomes, error codes and queue states only.

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export function createWorkerMetrics(queues: PartitionQueue[]) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const completed = new Counter({ name: 'worker_jobs_completed_total', help: 'Records written (or found written), by outcome', labelNames: ['outcome'] as const, registers: [registry] });
  const failed = new Counter({ name: 'worker_jobs_failed_total', help: 'Job attempts that failed, by error code and whether for good', labelNames: ['code', 'final'] as const, registers: [registry] });
  const retries = new Counter({ name: 'worker_job_retries_total', help: 'Failed attempts that will be retried', registers: [registry] });
  const deadLetters = new Counter({ name: 'worker_dead_letters_total', help: 'Records kept in the dead-letter collection', registers: [registry] });
  const batchSize = new Histogram({ name: 'worker_batch_size', help: 'Patients per group-commit write', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers: [registry] });
  const ingestLatency = new Histogram({
    name: 'ingest_latency_seconds',
    help: 'Time from the API accepting a record (202) to it being stored',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  registerQueueDepth(registry, queues);
  return { registry, completed, failed, retries, deadLetters, batchSize, ingestLatency };
}
