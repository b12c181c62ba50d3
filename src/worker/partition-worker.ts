import { Queue, Worker } from 'bullmq';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import { partitionedRef, recordRef, recordsOf, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { Tracing } from '../shared/tracing/tracing.ts';
import { failureFromReason, recordDeadLetter, redactedJobData, undecidedRecords } from './dead-letters/dead-letters.ts';
import type { InFlight } from './in-flight.ts';
import { classifyError } from './job-errors.ts';
import { createJobHandler, type HandlerDeps, type PatientJob } from './job-handler.ts';
import { errorSummary } from '../shared/errors.ts';

// One BullMQ Worker per queue partition this process takes (WORKER_PARTITIONS), each with its own
// handler (dead letters keyed by its queue, references naming its partition) and a Queue handle on
// its failed jobs for the dead-letter sweep (the process's own handle of that queue when it has one:
// the metrics' counts). All share the process's write path and connection.

export type PartitionWorker = { partition: number; queueName: string; worker: Worker<PatientJobData, PatientJobResult>; failedJobs: Queue<PatientJobData> };

export type PartitionWorkerDeps = {
  config: Config;
  connection: RedisClient;
  store: Store;
  logger: Logger;
  inFlight: InFlight;
  /** What every partition's handler shares (the write path, schema, observer, retry delay). */
  handler: Omit<HandlerDeps, 'queueName' | 'refOf' | 'logger'>;
  tracing?: Tracing;
  /** The process's Queue handle of a partition, if it holds one already (run-worker.ts: the counts). */
  queueOf?: (partition: number) => Queue<PatientJobData> | undefined;
};

export function createPartitionWorker(partition: number, queueName: string, partitions: number, deps: PartitionWorkerDeps): PartitionWorker {
  const { config, connection, store, inFlight, tracing } = deps;
  const logger = partitions === 1 ? deps.logger : deps.logger.child({ partition });
  const handle = createJobHandler({ ...deps.handler, queueName, logger, refOf: (jobId, index) => partitionedRef(partition, partitions, recordRef(jobId, index)) });
  const keep = (count: number, ageS: number) => ({ count, age: ageS });
  // The job span (BullMQ's, in the trace of the request that enqueued the job) links to every record's request.
  const processor = (job: PatientJob, token?: string) => (tracing?.linkRecords(recordsOf(job.data)), inFlight.run(job, token, (signal) => handle(job, token, signal)));
  const worker = new Worker<PatientJobData, PatientJobResult>(queueName, processor, {
    ...(tracing ? { telemetry: tracing.bullmq } : {}),
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    // A job whose worker died is re-delivered once its lock expires. That is not the job's fault:
    // allow it many times instead of failing on the second stall (BullMQ's default of 1).
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    autorun: false, // started once MongoDB has answered (create-worker.ts)
    // For jobs added without these options (the API sets them per job, which takes precedence).
    removeOnComplete: keep(config.JOB_KEEP_COMPLETED, config.JOB_KEEP_COMPLETED_AGE_S),
    removeOnFail: keep(config.JOB_KEEP_FAILED, config.JOB_KEEP_FAILED_AGE_S),
  });
  // Without a listener an 'error' event (Redis gone) would crash the process; BullMQ reconnects.
  worker.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'worker connection error'));
  // Failed for good outside our processor's reach (it records its own): make sure a letter exists.
  worker.on('failed', (job) => {
    if (!job || job.finishedOn === undefined) return; // a retry, not the end
    const failure = failureFromReason(job.failedReason);
    Promise.all(undecidedRecords(job).map((source) => recordDeadLetter(store, queueName, source, failure, 'failed-event'))).then(
      () => job.updateData(redactedJobData(job.data)).catch(() => {}), // the letters hold the records now
      (err: unknown) => {
        const cause = classifyError(err);
        logger.error({ jobId: job.id, code: cause.code, reason: cause.message }, 'dead letter not recorded; the sweep will add it');
      },
    );
  });
  const failedJobs = deps.queueOf?.(partition) ?? new Queue<PatientJobData>(queueName, { connection, prefix: config.QUEUE_PREFIX });
  failedJobs.on('error', () => {}); // the worker's own listener reports connection trouble
  return { partition, queueName, worker, failedJobs };
}
