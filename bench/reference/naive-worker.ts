// Reference for scenario 3: a naive BullMQ worker, one updateOne per job, no group commit. Same
// queue, connection, concurrency (WORKER_CONCURRENCY), validation and per-job log line as the real
// worker; only the write differs. Run as a process with the worker's env vars.
import { Worker, type Job } from 'bullmq';
import { loadConfigOrExit, onShutdown } from '../../src/shared/entry.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { createPatientSchema, parsePatient } from '../../src/shared/patient-schema.ts';
import type { PatientJobData, PatientJobResult } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { versionOf } from '../lib/version.ts';

const config = loadConfigOrExit('naive-worker', process.env);
const logger = createLogger({ level: config.LOG_LEVEL, name: 'naive-worker' });
const store = createStore(config);
const connection = createRedis(config.REDIS_URL, 'worker');
const schema = createPatientSchema({ timeZone: config.PATIENT_TIME_ZONE, maxStringLength: config.PATIENT_STRING_MAX });

const processor = async (job: Job<PatientJobData, PatientJobResult>): Promise<PatientJobResult> => {
  const started = performance.now();
  const parsed = parsePatient(schema, job.data.patient);
  if (!parsed.ok) throw new Error('patient record is invalid');
  const { patient } = parsed;
  const jobId = String(job.id);
  const receivedAt = new Date(job.data.receivedAt);
  const _ingest = { version: versionOf(patient.modify_time, job.data.receivedAt, jobId), jobId, receivedAt, appliedAt: new Date(), attempt: job.attemptsMade + 1 };
  const res = await store.patients.updateOne({ _id: patient.id }, { $set: { ...patient, _ingest } }, { upsert: true });
  const outcome = res.upsertedCount > 0 ? 'inserted' : 'updated';
  logger.info({ jobId, patientId: patient.id, outcome, attempt: _ingest.attempt, ms: Math.round((performance.now() - started) * 10) / 10 }, 'job done');
  return { outcome, patientId: patient.id };
};

const worker = new Worker<PatientJobData, PatientJobResult>(config.QUEUE_NAME, processor, {
  connection,
  prefix: config.QUEUE_PREFIX,
  concurrency: config.WORKER_CONCURRENCY,
  maxStalledCount: 50,
});
worker.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'worker connection error'));
logger.info({ queue: config.QUEUE_NAME, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, async () => {
  await worker.close();
  await store.close();
  connection.disconnect();
});
