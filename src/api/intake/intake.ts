import type { FastifyBaseLogger } from 'fastify';
import type { PatientRecord } from '../../shared/queue.ts';
import type { ConfirmReplicas } from '../../shared/replica-wait.ts';
import { BackpressureError, createDepthGuard } from './backpressure.ts';
import { createEnqueuer } from './enqueue.ts';
import type { PatientQueue } from '../../shared/queue.ts';
import type { ApiMetrics } from '../metrics.ts';

// The one path from validated records to an acknowledged enqueue, for the single and the batch
// route: backpressure (cached depth), then the coalescing enqueuer, then the count.

export type Intake = {
  /**
   * Answers one status reference per record once Redis has them all; 503 errors otherwise, by
   * `deadline` (epoch ms; default now + API_ENQUEUE_TIMEOUT_MS, the request's one bound).
   */
  accept: (records: PatientRecord[], bytes: number, endpoint: 'single' | 'batch', deadline?: number) => Promise<string[]>;
  flush: () => void;
};

export type IntakeOptions = {
  /** One per partition. */
  queues: PatientQueue[];
  confirm?: ConfirmReplicas;
  metrics: ApiMetrics;
  log: FastifyBaseLogger;
  maxWaitingRecords: number;
  maxMemoryPercent: number;
  jobMaxRecords: number;
  jobMaxBytes: number;
  enqueueTimeoutMs: number;
  depthRefreshMs: number;
  /** The request's trace context, carried with each of its records (tracing on). */
  traceparent?: () => string | undefined;
};

export function createIntake(o: IntakeOptions): Intake {
  const enqueuer = createEnqueuer({ queues: o.queues, maxRecords: o.jobMaxRecords, maxBytes: o.jobMaxBytes, timeoutMs: o.enqueueTimeoutMs, log: o.log, confirm: o.confirm, traceparent: o.traceparent });
  const guard = createDepthGuard(o.queues, { maxWaiting: o.maxWaitingRecords, maxMemoryPercent: o.maxMemoryPercent }, enqueuer.recordsPerJob, o.depthRefreshMs, o.enqueueTimeoutMs);
  return {
    async accept(records, bytes, endpoint, deadline = Date.now() + o.enqueueTimeoutMs) {
      // One bound for the request (API_ENQUEUE_TIMEOUT_MS), shared by the depth read and the enqueue
      // (and the Idempotency-Key claim before them): a slow Redis answers 503 within it, not a multiple.
      try {
        await guard(records.length, deadline);
      } catch (err) {
        if (err instanceof BackpressureError) o.metrics.rejected.inc({ reason: 'queue_full' }, records.length);
        throw err;
      }
      const refs = await enqueuer.submit(records, bytes, deadline);
      o.metrics.enqueued.inc({ endpoint }, records.length);
      return refs;
    },
    flush: enqueuer.flush,
  };
}
