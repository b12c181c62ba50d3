// Scenario 3: a backlog of queued jobs (distinct patients) drained by one worker process, against
// the database limit (the raw driver, unordered bulkWrite in batches of 500, same documents, same
// operation) and a naive worker (one updateOne per job, same concurrency as the real worker).
import type { AnyBulkWriteOperation } from 'mongodb';
import { loadConfig } from '../../src/shared/config.ts';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { JOB_NAME, queueSettings } from '../../src/shared/queue.ts';
import { dropDb, flushRedis, openQueue, startWorker, waitDrained, type BenchQueue, type Ctx } from '../lib/context.ts';
import { benchSchema, jobData, patientDocument, takeIds } from '../lib/patients.ts';
import { median, medianRatio, say } from '../lib/util.ts';

export type DrainRun = { jobs: number; stored: number; seconds: number; jobsPerS: number; complete: boolean; failed: number };

export type DrainResult = {
  jobs: number;
  maxSeconds: number;
  workerConcurrency: number;
  naiveConcurrency: number;
  rawBatchSize: number;
  /** What the raw reference sent: the worker's own kind of write for new patients on this server. */
  rawOperation: string;
  rounds: { worker: DrainRun[]; rawBulkWrite: DrainRun[]; naiveWorker: DrainRun[] };
  medians: { workerSeconds: number | null; workerJobsPerS: number | null; rawDocsPerS: number | null; naiveJobsPerS: number | null };
  ratios: { workerVsRaw: number | null; workerVsNaive: number | null };
};

const DEFAULTS = loadConfig({ REDIS_URL: 'redis://x', MONGO_URL: 'mongodb://x' });

async function enqueuePaused(ctx: Ctx, queue: BenchQueue, firstId: number, count: number): Promise<void> {
  const { jobOptions } = queueSettings(DEFAULTS);
  await queue.pause();
  const chunk = 1000;
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const now = Date.now();
    await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: JOB_NAME, data: jobData(firstId + i + k, now), opts: jobOptions })));
    ctx.checkDeadline();
  }
}

async function drainWith(ctx: Ctx, role: 'worker' | 'naiveWorker', round: number): Promise<DrainRun> {
  const p = ctx.params;
  const tag = role === 'worker' ? 'w' : 'n';
  const target = { queue: `drain-${tag}-r${round}`, db: `bench_drain_${tag}_r${round}` };
  const queue = openQueue(ctx, target.queue);
  const jobs = p.drainJobs;
  try {
    say(`scenario 3 round ${round}/${p.rounds}: ${role}: enqueueing ${jobs} jobs (queue paused)`);
    await enqueuePaused(ctx, queue, takeIds(jobs), jobs);
    const proc = await startWorker(ctx, role, target, `${role}-s3-r${round}`);
    try {
      const t0 = performance.now();
      await queue.resume();
      let lastSay = 0;
      const res = await waitDrained(queue, p.drainMaxS, (pending) => {
        const s = (performance.now() - t0) / 1000;
        if (s - lastSay >= 5) {
          lastSay = s;
          say(`  ${role}: ${jobs - pending}/${jobs} done after ${s.toFixed(0)} s`);
        }
      });
      const seconds = (performance.now() - t0) / 1000;
      const stored = await ctx.mongo.db(target.db).collection('patients').countDocuments({});
      const run = { jobs, stored, seconds, jobsPerS: stored / seconds, complete: res.done && stored === jobs, failed: res.failed };
      say(`  ${role}: ${stored}/${jobs} stored in ${seconds.toFixed(2)} s = ${run.jobsPerS.toFixed(0)} jobs/s${res.done ? '' : ' (stopped at the time limit)'}${res.failed ? `, ${res.failed} failed` : ''}`);
      return run;
    } finally {
      await proc.stop();
    }
  } finally {
    await queue.close();
    await flushRedis(ctx);
    await dropDb(ctx, target.db);
  }
}

/**
 * The database limit for the worker's own writes of these (new) patients. Against MongoDB the worker
 * writes a replace-with-upsert filtered on an older version; against FerretDB, where that filter
 * scans the collection for every op, it inserts new patients (src/worker/batch-write.ts). The raw
 * reference does the same, so "worker ÷ raw" is the share of what the server can take.
 */
async function rawOperation(ctx: Ctx): Promise<'insertOne' | 'replaceOne-upsert'> {
  const info = await ctx.mongo.db('admin').command({ buildInfo: 1 });
  return 'ferretdbVersion' in info ? 'insertOne' : 'replaceOne-upsert';
}

async function rawBulkWrite(ctx: Ctx, round: number): Promise<DrainRun & { operation: string }> {
  const p = ctx.params;
  const db = `bench_drain_raw_r${round}`;
  const schema = benchSchema();
  const first = takeIds(p.drainJobs);
  const now = Date.now();
  const docs = Array.from({ length: p.drainJobs }, (_, i) => patientDocument(schema, jobData(first + i, now), String(i + 1)));
  const patients = ctx.mongo.db(db).collection<PatientDocument>('patients');
  const wc = { w: DEFAULTS.MONGO_WRITE_CONCERN, journal: DEFAULTS.MONGO_JOURNAL };
  try {
    const op = await rawOperation(ctx);
    say(`scenario 3 round ${round}/${p.rounds}: raw driver bulkWrite (${op}) of ${docs.length} documents in batches of ${p.rawBatchSize}`);
    const t0 = performance.now();
    for (let i = 0; i < docs.length; i += p.rawBatchSize) {
      const ops: AnyBulkWriteOperation<PatientDocument>[] = docs.slice(i, i + p.rawBatchSize).map((doc) =>
        op === 'insertOne'
          ? { insertOne: { document: doc } }
          : { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $lt: doc._ingest.version } }, replacement: doc, upsert: true } },
      );
      await patients.bulkWrite(ops, { ordered: false, writeConcern: wc });
      ctx.checkDeadline();
      if ((performance.now() - t0) / 1000 > p.drainMaxS) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const stored = await patients.countDocuments({});
    say(`  raw bulkWrite: ${stored}/${docs.length} in ${seconds.toFixed(2)} s = ${(stored / seconds).toFixed(0)} docs/s${stored < docs.length ? ' (stopped at the time limit)' : ''}`);
    return { jobs: docs.length, stored, seconds, jobsPerS: stored / seconds, complete: stored === docs.length, failed: 0, operation: op };
  } finally {
    await dropDb(ctx, db);
  }
}

export async function drain(ctx: Ctx): Promise<DrainResult> {
  const p = ctx.params;
  ctx.rss.phase = 's3';
  const rounds = { worker: [] as DrainRun[], rawBulkWrite: [] as (DrainRun & { operation: string })[], naiveWorker: [] as DrainRun[] };
  for (let r = 1; r <= p.rounds; r++) {
    ctx.checkDeadline();
    rounds.worker.push(await drainWith(ctx, 'worker', r));
    rounds.rawBulkWrite.push(await rawBulkWrite(ctx, r));
    rounds.naiveWorker.push(await drainWith(ctx, 'naiveWorker', r));
  }
  const rates = (runs: DrainRun[]) => runs.map((x) => x.jobsPerS);
  return {
    jobs: p.drainJobs,
    maxSeconds: p.drainMaxS,
    workerConcurrency: DEFAULTS.WORKER_CONCURRENCY,
    naiveConcurrency: DEFAULTS.WORKER_CONCURRENCY,
    rawBatchSize: p.rawBatchSize,
    rawOperation: rounds.rawBulkWrite[0]?.operation ?? 'n/a',
    rounds,
    medians: {
      workerSeconds: median(rounds.worker.map((x) => x.seconds)),
      workerJobsPerS: median(rates(rounds.worker)),
      rawDocsPerS: median(rates(rounds.rawBulkWrite)),
      naiveJobsPerS: median(rates(rounds.naiveWorker)),
    },
    ratios: {
      workerVsRaw: medianRatio(rounds.worker.map((w, i) => ({ a: w.jobsPerS, b: rounds.rawBulkWrite[i]?.jobsPerS ?? null }))),
      workerVsNaive: medianRatio(rounds.worker.map((w, i) => ({ a: w.jobsPerS, b: rounds.naiveWorker[i]?.jobsPerS ?? null }))),
    },
  };
}

