// Per fault-test file: a unique queue and database, a producer that enqueues like the API does
// (records grouped into batch jobs, BullMQ addBulk with queueSettings' options), worker PROCESSES (`node src/worker/main.ts`), and
// checks made against Redis and MongoDB themselves. Everything is removed in close().
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/shared/config/config.ts';
import { createStore, type Store } from '../../src/shared/mongo.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { JOB_NAME, queueSettings, recordRef, type PatientJobData, type PatientJobResult, type PatientRecord } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { freePort, ROOT } from './local-servers.ts';
import { startProcess, waitForOutput, type Proc } from './processes.ts';
import { jobIdsOf, refParts, recordResult, until } from './records.ts';

export { jobIdsOf, refParts, until };

export type FaultEnvOptions = { redisUrl?: string; mongoUrl?: string; workerEnv?: Record<string, string> };
/** `perJob`: records per batch job (the API's coalescing makes jobs of many); `jobOptions`: BullMQ's, default the API's. */
export type EnqueueOptions = { perJob?: number; jobOptions?: JobsOptions };

/** One version of one patient: modify_time grows with `version`, fullname names both. */
export function patientVersion(id: number, version: number, receivedAt = Date.now()): PatientRecord {
  const modify = new Date(Date.UTC(2025, 0, 1) + version * 60_000).toISOString();
  return { patient: { ...SEED_SAMPLE, id, modify_time: modify, fullname: `patient ${id} version ${version}` }, receivedAt };
}

export const shuffle = <T>(items: T[]): T[] => {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

const STATES = ['completed', 'failed', 'active', 'wait', 'delayed', 'prioritized', 'paused'] as const;

export type FaultEnv = Awaited<ReturnType<typeof createFaultEnv>>;

export async function createFaultEnv(options: FaultEnvOptions = {}) {
  const tag = randomBytes(4).toString('hex');
  const redisUrl = options.redisUrl ?? inject('redisUrl');
  const mongoUrl = options.mongoUrl ?? inject('mongoUrl');
  const base: Record<string, string> = {
    REDIS_URL: redisUrl,
    MONGO_URL: mongoUrl,
    MONGO_DB: `f_${tag}`,
    QUEUE_NAME: `f-${tag}`,
    LOG_LEVEL: 'warn',
    JOB_BACKOFF_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...options.workerEnv,
  };
  const config: Config = loadConfig(base);
  const producer = createRedis(redisUrl, 'worker'); // waits through a Redis restart, like a patient producer would retry
  producer.on('error', () => {});
  const settings = queueSettings(config);
  const queue = new Queue<PatientJobData, PatientJobResult>(settings.name, { connection: producer, prefix: settings.prefix });
  queue.on('error', () => {});
  const store: Store = createStore(config);
  const procs: Proc[] = []; // worker and API processes, killed in close()
  const killAll = async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  };

  return {
    config,
    queue,
    store,
    /** The environment its processes get (queue, database, servers). */
    processEnv: base,
    /**
     * Enqueues like the API: records in batch jobs of `perJob` (default 50), one addBulk per 500
     * jobs; answers one reference (`<jobId>-<index>`) per record, in order, once Redis has them.
     * Anything may stand in for a record (poison from another producer): cast it.
     */
    async enqueue(records: PatientRecord[], { perJob = 50, jobOptions = settings.jobOptions }: EnqueueOptions = {}): Promise<string[]> {
      const groups: PatientRecord[][] = [];
      for (let i = 0; i < records.length; i += perJob) groups.push(records.slice(i, i + perJob));
      const refs: string[] = [];
      for (let i = 0; i < groups.length; i += 500) {
        const jobs = await queue.addBulk(groups.slice(i, i + 500).map((group) => ({ name: JOB_NAME, data: { records: group }, opts: jobOptions })));
        jobs.forEach((job, k) => refs.push(...groups[i + k]!.map((_, index) => recordRef(String(job.id), index))));
      }
      return refs;
    },
    /** Where one record stands: its job's state and, once decided, its own result. */
    recordResult: (ref: string) => recordResult(queue, ref),
    /** The records' outcomes counted (`undecided` for a record without a result yet), one read per job. */
    async outcomes(refs: string[]): Promise<Record<string, number>> {
      const jobs = new Map(await Promise.all(jobIdsOf(refs).map(async (id) => [id, await queue.getJob(id)] as const)));
      const counts: Record<string, number> = {};
      for (const ref of refs) {
        const { jobId, index } = refParts(ref);
        const outcome = jobs.get(jobId)?.returnvalue?.results?.[index]?.outcome ?? 'undecided';
        counts[outcome] = (counts[outcome] ?? 0) + 1;
      }
      return counts;
    },
    startWorker(env: Record<string, string> = {}): Proc {
      const proc = startProcess('worker', { ...base, ...env });
      procs.push(proc);
      return proc;
    },
    /** Kills every process this env started that still runs (a failed test's workers must not take the next test's jobs). */
    killAll,
    /** The API as a process (`node src/api/server.ts`) on the same queue, development auth unless `env` says otherwise. */
    startApi(env: Record<string, string>): Proc {
      const proc = startProcess('api', { ...base, AUTH_DEV_MODE: 'true', ...env });
      procs.push(proc);
      return proc;
    },
    /** API and worker processes for load over real HTTP: no rate or depth limit in the way, both started and listening. */
    async startHttpStack(): Promise<{ api: Proc; worker: Proc; base: string }> {
      const port = await freePort();
      const api = this.startApi({ API_PORT: String(port), RATE_LIMIT_MAX: '1000000', QUEUE_MAX_WAITING: '1000000', LOG_LEVEL: 'info' });
      const worker = this.startWorker({ LOG_LEVEL: 'info' }); // its start line tells when it takes jobs
      await waitForOutput(api, /Server listening/);
      await waitForOutput(worker, /worker started/);
      return { api, worker, base: `http://127.0.0.1:${port}` };
    },
    /** Runs the dead-letter command as ops would: `node src/worker/dead-letters/dead-letter-cli.ts ...args`. */
    deadLetters(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const child = spawn(process.execPath, [join(ROOT, 'src/worker/dead-letters/dead-letter-cli.ts'), ...args], { env: { PATH: process.env.PATH ?? '', ...base } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
    },
    async counts(): Promise<Record<(typeof STATES)[number], number>> {
      const c = await queue.getJobCounts(...STATES);
      return Object.fromEntries(STATES.map((s) => [s, c[s] ?? 0])) as Record<(typeof STATES)[number], number>;
    },
    async close() {
      await killAll();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await store.db.dropDatabase().catch(() => {});
      await store.close();
      producer.disconnect();
    },
  };
}

/** Checks the database against what was acknowledged: one document per patient, the newest version. */
export async function storedVersusAcknowledged(store: Store, newest: Map<number, { jobId: string; fullname: string }>) {
  const docs = await store.patients.find({}, { projection: { _id: 1, id: 1, fullname: 1, '_ingest.jobId': 1 } }).toArray();
  const duplicates = await store.patients.aggregate([{ $group: { _id: '$id', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }]).toArray();
  let newestStored = 0;
  const wrong: number[] = [];
  for (const doc of docs) {
    const expected = newest.get(doc.id);
    if (expected && doc.fullname === expected.fullname && doc._ingest.jobId === expected.jobId) newestStored++;
    else wrong.push(doc.id);
  }
  const missing = [...newest.keys()].filter((id) => !docs.some((d) => d.id === id));
  return { patients: newest.size, storedDocs: docs.length, newestStored, duplicates: duplicates.length, missing: missing.length, wrong: wrong.slice(0, 10) };
}

/** The newest version per patient among enqueued records, with the record reference that carried it. */
export function newestPerPatient(records: PatientRecord[], refs: string[]): Map<number, { jobId: string; fullname: string }> {
  const best = new Map<number, { jobId: string; fullname: string; modify: string }>();
  records.forEach((r, i) => {
    const id = Number(r.patient.id);
    const modify = String(r.patient.modify_time);
    const current = best.get(id);
    if (!current || modify > current.modify) best.set(id, { jobId: refs[i]!, fullname: String(r.patient.fullname), modify });
  });
  return new Map([...best].map(([id, { jobId, fullname }]) => [id, { jobId, fullname }]));
}
