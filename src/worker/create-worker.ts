import type { Worker } from 'bullmq';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import { createPatientSchema } from '../shared/patient/patient-schema.ts';
import { parsePartitionList } from '../shared/partitions.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { Tracing } from '../shared/tracing/tracing.ts';
import { createPatientStore, type PatientStore } from './write/batch-write.ts';
import { startDeadLetterSweep } from './dead-letters/dead-letter-sweep.ts';
import { createInFlight } from './in-flight.ts';
import type { PatientJob } from './job-handler.ts';
import { createPartitionWorker, type PartitionWorker, type PartitionWorkerDeps } from './partition-worker.ts';
import type { ProcessorDeps } from './process-patient-job.ts';
import type { JobObserver } from './observer.ts';
import { ensureIndexes } from './write/indexes.ts';
import { connectMongo, prepare, stopInPhases } from './lifecycle.ts';
import { createWriteLock, withLocalTurns, writeLockPrefix } from './write/write-lock.ts';
import { chooseStrategy, ferretStrategy } from './write/write-strategy.ts';
import { ServerRefusedError } from './write/server-check.ts';
import { errorSummary } from '../shared/errors.ts';

export type WorkerDeps = {
  config: Config;
  connection: RedisClient;
  store: Store;
  logger: Logger;
  observer?: JobObserver;
  /** Set when tracing is on (src/shared/tracing/tracing.ts): BullMQ's job spans, linked to each record's request. */
  tracing?: Tracing;
  /** Queue handles the process holds already (by partition): the dead-letter sweep reads through them instead of its own. */
  queueOf?: PartitionWorkerDeps['queueOf'];
  /** The server is not one to write to (server-check.ts): no job is taken; the process decides what follows (exit 2). */
  onRefused?: (err: ServerRefusedError) => void;
};

export type PatientWorker = {
  /** The first partition's worker (the only one unless WORKER_PARTITIONS names several). */
  worker: Worker<PatientJobData, PatientJobResult>;
  partitions: PartitionWorker[];
  /** Finishes or hands back in-flight jobs, then runs `after`, all within SHUTDOWN_TIMEOUT_MS. */
  close: (after?: () => Promise<unknown>) => Promise<void>;
};

export function createWorker({ config, connection, store, logger, observer, tracing, queueOf, onRefused }: WorkerDeps): PatientWorker {
  const schema = createPatientSchema({ timeZone: config.PATIENT_TIME_ZONE, maxStringLength: config.PATIENT_STRING_MAX });
  // The write path is built once the server has answered and said what it is (buildInfo).
  let ready: (s: PatientStore) => void = () => {};
  const patientStore = new Promise<PatientStore>((resolve) => (ready = resolve));
  const inFlight = createInFlight();
  // One group commit per batch job: the write layer answers one result per record.
  const write: ProcessorDeps['write'] = async (items) => (await patientStore).write(items);
  const handler = {
    store,
    schema,
    write,
    observer,
    // Exponential in the times it was put back (started but not counted as attempts), with jitter.
    retryDelayMs: (job: PatientJob) => Math.round(Math.min(config.JOB_BACKOFF_MS * 2 ** Math.min(job.attemptsStarted - job.attemptsMade, 10), 300_000) * (0.5 + Math.random() / 2)),
  };
  const { names } = queueSettings(config);
  const chosen = parsePartitionList(config.WORKER_PARTITIONS, config.QUEUE_PARTITIONS) as number[]; // checked by loadConfig
  const partitions = chosen.map((p) => createPartitionWorker(p, names[p]!, names.length, { config, connection, store, logger, inFlight, handler, tracing, queueOf }));
  let stopSweeps: (() => void)[] = [];
  let closing: Promise<void> | undefined;

  // Jobs are taken only once MongoDB has answered, said what it is, and has its indexes.
  void connectMongo(store, logger, () => closing !== undefined).then(async (connected) => {
    if (!connected) return;
    const lock = withLocalTurns(createWriteLock(connection, writeLockPrefix(config), config.WORKER_WRITE_LOCK_MS));
    const ferret = () => ferretStrategy(lock, config.WORKER_WRITE_LOCK_MS + 2000);
    // A refusal is an answer, not an outage: not retried.
    const choose = () => chooseStrategy(store.db, config.MONGO_WRITE_CONCERN, ferret).catch((err: unknown) => (err instanceof ServerRefusedError ? err : Promise.reject(err)));
    const prepared = await prepare(choose, logger, () => closing !== undefined);
    if (prepared instanceof ServerRefusedError) {
      logger.fatal({ code: prepared.code, variable: prepared.variable }, `${prepared.variable} ${prepared.message}; not taking jobs`);
      return onRefused?.(prepared);
    }
    if (!prepared || !(await prepare(async () => (await ensureIndexes(store, config, logger), true), logger, () => closing !== undefined))) return;
    ready(createPatientStore({ patients: store.patients, strategy: prepared }));
    logger.info({ server: prepared.name, partitions: chosen }, 'MongoDB answered, indexes in place; taking jobs');
    stopSweeps = partitions.map(({ failedJobs, queueName }) => startDeadLetterSweep({ queue: failedJobs, store, queueName, everyMs: config.DEAD_LETTER_SWEEP_MS, logger }));
    for (const { worker } of partitions) worker.run().catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'worker stopped running'));
  });

  const close = (after?: () => Promise<unknown>) =>
    (closing ??= (async () => {
      for (const stop of stopSweeps) stop();
      await stopInPhases({
        timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
        logger,
        closeWorkers: () => Promise.all(partitions.map(({ worker }) => worker.close())),
        handBack: () => inFlight.handBack(),
        closeQueues: () => Promise.all(partitions.map(({ failedJobs }) => failedJobs.close().catch(() => {}))),
        after,
      });
    })());

  return { worker: partitions[0]!.worker, partitions, close };
}
