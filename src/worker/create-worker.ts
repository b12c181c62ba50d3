import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import { createPatientSchema } from '../shared/patient-schema.ts';
import type { PatientJobData, PatientJobResult } from '../shared/queue.ts';
import { recordDeadLetter } from './dead-letters.ts';
import { classifyError } from './job-errors.ts';
import { createPatientWriter } from './patient-writer.ts';
import { processPatientJob } from './process-patient-job.ts';

export type WorkerDeps = { config: Config; connection: Redis; store: Store; logger: Logger };

export type PatientWorker = { worker: Worker<PatientJobData, PatientJobResult>; close: () => Promise<void> };

export function createWorker({ config, connection, store, logger }: WorkerDeps): PatientWorker {
  const schema = createPatientSchema({ timeZone: config.PATIENT_TIME_ZONE, maxStringLength: config.PATIENT_STRING_MAX });
  const writer = createPatientWriter({
    patients: store.patients,
    batchMax: config.WORKER_BATCH_MAX,
    batchWaitMs: config.WORKER_BATCH_WAIT_MS,
  });

  const processor = async (job: Job<PatientJobData, PatientJobResult>): Promise<PatientJobResult> => {
    const log = logger.child({ jobId: job.id });
    const started = performance.now();
    const attempt = job.attemptsMade + 1;
    try {
      const result = await processPatientJob({ id: String(job.id), data: job.data, attemptsMade: job.attemptsMade }, { schema, write: writer.write });
      log.info({ patientId: result.patientId, outcome: result.outcome, attempt, ms: elapsed(started) }, 'job done');
      return result;
    } catch (err) {
      const failure = classifyError(err);
      const final = failure.permanent || attempt >= (job.opts.attempts ?? 1);
      log[final ? 'error' : 'warn']({ code: failure.code, attempt, final, ms: elapsed(started) }, `job failed: ${failure.message}`);
      if (final) await recordDeadLetter(store, config.QUEUE_NAME, job, failure);
      const reason = `${failure.code}: ${failure.message}`;
      throw failure.permanent ? new UnrecoverableError(reason) : new Error(reason);
    }
  };

  const worker = new Worker<PatientJobData, PatientJobResult>(config.QUEUE_NAME, processor, {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    // A worker killed while holding jobs is not the jobs' fault: let them be picked up again
    // many times instead of failing on the second stall (BullMQ's default of 1).
    maxStalledCount: 50,
  });
  // Without a listener an 'error' event (Redis gone) would crash the process; BullMQ reconnects.
  worker.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'worker connection error'));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS, 'timeout').unref());
      const graceful = worker.close().then(() => 'closed' as const);
      if ((await Promise.race([graceful, deadline])) === 'timeout') {
        // Jobs still running go back to "wait" through BullMQ's stalled-job check; nothing is lost.
        logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed; handing back in-flight jobs');
        await worker.close(true);
      }
      await writer.flush();
    })());

  return { worker, close };
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;
