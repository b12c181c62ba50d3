// Scenario 3: a backlog of queued records drained by the real worker, against the database limit
// (the raw driver doing the same kind of write, unordered bulkWrite in batches, one at a time):
//   new   — patients not stored yet (a center's first load): worker vs raw inserts (or guarded upserts)
//   2 workers — the `new` backlog drained by two worker processes at once, next to one.
//   updates — re-sent patients at two registry sizes, with reads meanwhile: drain-updates.ts.
// Records are queued as the API queues a batch request: jobs of JOB_MAX_RECORDS records.
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { loadConfig } from '../../src/shared/config/config.ts';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { JOB_NAME, queueSettings } from '../../src/shared/queue.ts';
import { dropDb, flushRedis, openQueue, startWorker, waitDrained, type BenchQueue, type Ctx } from '../lib/context.ts';
import { benchSchema, patientDocument, record, takeIds } from '../lib/patients.ts';
import { median, medianRatio, say } from '../lib/util.ts';
import { drainUpdates, type UpdatesResult } from './drain-updates.ts';

export type DrainRun = { records: number; stored: number; seconds: number; perS: number; complete: boolean; failed: number };
type DrainKind = 'new';

export type DrainResult = {
  records: number;
  recordsPerJob: number;
  maxSeconds: number;
  workerConcurrency: number;
  rawBatchSize: number;
  /** What the raw reference sent for new patients: the worker's own kind of write on this server. */
  rawOperation: Record<DrainKind, string>;
  rounds: { workerNew: DrainRun[]; rawNew: DrainRun[]; twoWorkersNew: DrainRun[] };
  medians: { workerNewPerS: number | null; rawNewPerS: number | null; twoWorkersNewPerS: number | null };
  ratios: { workerVsRawNew: number | null; twoWorkersVsOne: number | null };
  /** Re-sent patients at two registry sizes (drain-updates.ts). */
  updates: UpdatesResult;
};

const DEFAULTS = loadConfig({ REDIS_URL: 'redis://x', MONGO_URL: 'mongodb://x' });

async function enqueuePaused(ctx: Ctx, queue: BenchQueue, firstId: number, count: number): Promise<void> {
  const { jobOptions } = queueSettings(DEFAULTS);
  const perJob = DEFAULTS.JOB_MAX_RECORDS;
  await queue.pause();
  for (let i = 0; i < count; i += perJob * 20) {
    const jobs = [];
    for (let j = i; j < Math.min(count, i + perJob * 20); j += perJob) {
      const now = Date.now();
      const n = Math.min(perJob, count - j);
      jobs.push({ name: JOB_NAME, data: { records: Array.from({ length: n }, (_, k) => record(firstId + j + k, now)) }, opts: jobOptions });
    }
    await queue.addBulk(jobs);
    ctx.checkDeadline();
  }
}

const applied = (patients: Collection<PatientDocument>) => patients.countDocuments({}, { timeoutMS: 60_000 });

async function drainWith(ctx: Ctx, kind: DrainKind, workers: number, round: number): Promise<DrainRun> {
  const p = ctx.params;
  const tag = `${kind[0]}${workers}`;
  const target = { queue: `drain-${tag}-r${round}`, db: `bench_drain_${tag}_r${round}` };
  const queue = openQueue(ctx, target.queue);
  const count = p.drainJobs;
  const label = `${workers} worker${workers > 1 ? 's' : ''}, ${kind}`;
  try {
    const first = takeIds(count);
    say(`scenario 3 round ${round}/${p.rounds}: ${label}: enqueueing ${count} records (queue paused)`);
    await enqueuePaused(ctx, queue, first, count);
    const procs = await Promise.all(Array.from({ length: workers }, (_, i) => startWorker(ctx, 'worker', target, `worker-s3-${tag}-${i + 1}-r${round}`)));
    try {
      const t0 = performance.now();
      await queue.resume();
      const res = await waitDrained(queue, p.drainMaxS);
      const seconds = (performance.now() - t0) / 1000;
      const stored = await applied(ctx.mongo.db(target.db).collection<PatientDocument>('patients'));
      const run = { records: count, stored, seconds, perS: stored / seconds, complete: res.done && stored === count, failed: res.failed };
      say(`  ${label}: ${stored}/${count} written in ${seconds.toFixed(2)} s = ${run.perS.toFixed(0)} records/s${res.done ? '' : ' (stopped at the time limit)'}${res.failed ? `, ${res.failed} failed` : ''}`);
      return run;
    } finally {
      await Promise.all(procs.map((proc) => proc.stop()));
    }
  } finally {
    await queue.close();
    await flushRedis(ctx);
    await dropDb(ctx, target.db);
  }
}

/**
 * The worker's own kind of write for a new patient on this server: on MongoDB the version-guarded
 * replace-with-upsert; on FerretDB (src/worker/README.md) an insert.
 */
async function rawOperations(ctx: Ctx): Promise<Record<DrainKind, string>> {
  const info = await ctx.mongo.db('admin').command({ buildInfo: 1 });
  return 'ferretdbVersion' in info ? { new: 'insertOne' } : { new: 'replaceOne-upsert (guarded)' };
}

function rawOp(op: string, doc: PatientDocument): AnyBulkWriteOperation<PatientDocument> {
  if (op === 'insertOne') return { insertOne: { document: doc } };
  return { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $lt: doc._ingest.version } }, replacement: doc, upsert: true } };
}

async function rawBulkWrite(ctx: Ctx, kind: DrainKind, op: string, round: number): Promise<DrainRun> {
  const p = ctx.params;
  const db = `bench_drain_raw${kind[0]}_r${round}`;
  const schema = benchSchema();
  const count = p.drainJobs;
  const first = takeIds(count);
  try {
    const now = Date.now();
    const docs = Array.from({ length: count }, (_, i) => patientDocument(schema, record(first + i, now), '2', i));
    const patients = ctx.mongo.db(db).collection<PatientDocument>('patients');
    const wc = { w: DEFAULTS.MONGO_WRITE_CONCERN, journal: DEFAULTS.MONGO_JOURNAL };
    say(`scenario 3 round ${round}/${p.rounds}: raw driver, ${kind}: bulkWrite (${op}) of ${docs.length} documents in batches of ${p.rawBatchSize}`);
    const t0 = performance.now();
    let failed = 0;
    const size = p.rawBatchSize;
    for (let i = 0; i < docs.length; i += size) {
      try {
        const chunk = docs.slice(i, i + size);
        await patients.bulkWrite(chunk.map((doc) => rawOp(op, doc)), { ordered: false, writeConcern: wc, timeoutMS: 60_000 });
      } catch (err) {
        // The server gave up on a batch (seen with FerretDB under load): counted, the run goes on.
        failed++;
        say(`  raw, ${kind}: a bulkWrite failed (${(err as Error).name}: ${(err as { code?: unknown }).code ?? ""}); going on`);
      }
      ctx.checkDeadline();
      if ((performance.now() - t0) / 1000 > p.drainMaxS) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const stored = await applied(patients).catch(() => 0);
    say(`  raw, ${kind}: ${stored}/${docs.length} in ${seconds.toFixed(2)} s = ${(stored / seconds).toFixed(0)} docs/s${stored < docs.length ? ' (stopped at the time limit)' : ''}`);
    return { records: docs.length, stored, seconds, perS: stored / seconds, complete: stored === docs.length, failed };
  } finally {
    await dropDb(ctx, db);
  }
}

export async function drain(ctx: Ctx): Promise<DrainResult> {
  const p = ctx.params;
  ctx.rss.phase = 's3';
  const ops = await rawOperations(ctx);
  const rounds: DrainResult['rounds'] = { workerNew: [], rawNew: [], twoWorkersNew: [] };
  for (let r = 1; r <= p.rounds; r++) {
    ctx.checkDeadline();
    rounds.workerNew.push(await drainWith(ctx, 'new', 1, r));
    rounds.rawNew.push(await rawBulkWrite(ctx, 'new', ops.new, r));
    rounds.twoWorkersNew.push(await drainWith(ctx, 'new', 2, r));
  }
  const updates = await drainUpdates(ctx);
  const rate = (runs: DrainRun[]) => median(runs.map((x) => x.perS));
  const ratio = (a: DrainRun[], b: DrainRun[]) => medianRatio(a.map((x, i) => ({ a: x.perS, b: b[i]?.perS ?? null })));
  return {
    records: p.drainJobs,
    recordsPerJob: DEFAULTS.JOB_MAX_RECORDS,
    maxSeconds: p.drainMaxS,
    workerConcurrency: DEFAULTS.WORKER_CONCURRENCY,
    rawBatchSize: p.rawBatchSize,
    rawOperation: ops,
    rounds,
    medians: {
      workerNewPerS: rate(rounds.workerNew),
      rawNewPerS: rate(rounds.rawNew),
      twoWorkersNewPerS: rate(rounds.twoWorkersNew),
    },
    ratios: {
      workerVsRawNew: ratio(rounds.workerNew, rounds.rawNew),
      twoWorkersVsOne: ratio(rounds.twoWorkersNew, rounds.workerNew),
    },
    updates,
  };
}
