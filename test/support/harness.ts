// Per test file: a unique queue and database on the shared real servers, the real app and worker
// wired to them, logs captured in memory, and everything removed afterwards.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { loadConfig, type Config } from '../../src/shared/config/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openConsumer, openProducer } from '../../src/shared/connections.ts';
import { JOB_NAME, recordRef, type PatientRecord } from '../../src/shared/queue.ts';
import { readyOrTimeout } from '../../src/shared/redis.ts';
import { createWorker, type PatientWorker } from '../../src/worker/create-worker.ts';
import type { JobObserver } from '../../src/worker/observer.ts';
import { recordResult, settledRecord } from './records.ts';

export function testConfig(overrides: Record<string, string> = {}): Config {
  const tag = randomBytes(4).toString('hex');
  return loadConfig({
    REDIS_URL: inject('redisUrl'),
    MONGO_URL: inject('mongoUrl'),
    MONGO_DB: `t_${tag}`,
    QUEUE_NAME: `t-${tag}`,
    LOG_LEVEL: 'debug',
    AUTH_DEV_MODE: 'true',
    JOB_BACKOFF_MS: '50',
    // In-process apps share the test worker's event loop with everything else on a loaded machine:
    // only the tests about overload set a tight bound.
    API_MAX_EVENT_LOOP_DELAY_MS: '30000',
    // The same for the enqueue bound (default 1.5 s): a loaded 2-core run must not turn a 202 into a
    // 503. The tests of that bound (redis-outage) set their own.
    API_ENQUEUE_TIMEOUT_MS: '10000',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...overrides,
  });
}

export type CapturedLogs = { lines: () => Record<string, unknown>[]; text: () => string };

export function captureLogger(name: string, level = 'debug') {
  const chunks: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
  const logger = createLogger({ level, name }, sink);
  const logs: CapturedLogs = {
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
  return { logger, logs };
}

export type Harness = Awaited<ReturnType<typeof createHarness>>;

export async function createHarness(overrides: Record<string, string> = {}) {
  const config = testConfig(overrides);
  const api = captureLogger('api');
  const work = captureLogger('worker');
  // The API's own connections (src/shared/connections.ts); `queue` is partition 0's, the only one by default.
  const producer = openProducer(config, { queueEvents: true });
  const { queues, queueEvents, store } = producer;
  const queue = queues[0]!;
  await readyOrTimeout(producer.redis, 5000);
  const app = await buildApp({ config, logger: api.logger, queues, redis: producer.redis, store, queueEvents });
  let worker: PatientWorker | undefined;
  const consumer = openConsumer(config);
  const workerConnection = consumer.redis;

  return {
    config, app, queue, queues, store, apiLogs: api.logs, workerLogs: work.logs,
    /** The worker as the tests need it; with `observer`, its metrics and audit trail too (as run-worker.ts wires them). */
    startWorker(opts: { observer?: JobObserver } = {}): PatientWorker {
      worker ??= createWorker({ config, connection: workerConnection, store, logger: work.logger, ...opts });
      return worker;
    },
    async stopWorker() {
      await worker?.close();
      worker = undefined;
    },
    /** Resolves when the record's job has completed or failed for good: `{ state, job, result }` of that record (support/records.ts). */
    settled: (ref: string, timeoutMs = 20_000) => settledRecord(queues, ref, timeoutMs),
    /** One batch job straight into the queue, as another producer could put it (records unchecked); one reference per record. */
    async enqueueJob(records: unknown[]): Promise<string[]> {
      const job = await queue.add(JOB_NAME, { records: records as PatientRecord[] });
      return records.map((_, index) => recordRef(String(job.id), index));
    },
    /** Where one record stands now, without waiting. */
    recordResult: (ref: string) => recordResult(queues, ref),
    async close() {
      await worker?.close();
      await app.close();
      for (const q of queues) await q.obliterate({ force: true }).catch(() => {});
      await store.db.dropDatabase().catch(() => {});
      await producer.close();
      await consumer.close();
    },
  };
}
