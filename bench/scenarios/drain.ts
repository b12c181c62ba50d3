// Scenario 3: a backlog of queued records drained by the real worker, against the database limit
// (the raw driver doing the same kind of write, unordered bulkWrite in batches, one at a time):
//   new   — patients not stored yet (a center's first load): worker vs raw inserts (or guarded upserts)
//   update — re-sent patients, each already stored in an older version (what centers mostly send):
//            worker vs raw replaces of the same documents
//   2 workers — the `new` backlog drained by two worker processes at once, next to one.
// Records are queued as the API queues a batch request: jobs of JOB_MAX_RECORDS records.
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { loadConfig } from '../../src/shared/config/config.ts';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { JOB_NAME, queueSettings } from '../../src/shared/queue.ts';
import { dropDb, flushRedis, openQueue, startWorker, waitDrained, type BenchQueue, type Ctx } from '../lib/context.ts';
import { benchSchema, patientDocument, record, takeIds } from '../lib/patients.ts';
import { median, medianRatio, say } from '../lib/util.ts';

export type DrainRun = { records: number; stored: number; seconds: number; perS: number; complete: boolean; failed: number };
export type DrainKind = 'new' | 'update';

export type DrainResult = {
  records: number;
  updates: number;
  recordsPerJob: number;
  maxSeconds: number;
  workerConcurrency: number;
  rawBatchSize: number;
  /** What the raw reference sent for each kind: the worker's own kind of write on this server. */
  rawOperation: Record<DrainKind, string>;
  rounds: { workerNew: DrainRun[]; rawNew: DrainRun[]; workerUpdate: DrainRun[]; rawUpdate: DrainRun[]; twoWorkersNew: DrainRun[] };
  medians: { workerNewPerS: number | null; rawNewPerS: number | null; workerUpdatePerS: number | null; rawUpdatePerS: number | null; twoWorkersNewPerS: number | null };
  ratios: { workerVsRawNew: number | null; workerVsRawUpdate: number | null; twoWorkersVsOne: number | null };
};

const DEFAULTS = loadConfig({ REDIS_URL: 'redis://x', MONGO_URL: 'mongodb://x' });
/** Updates are marked by this value, so "how many are applied" is one count. */
const UPDATED_TOTAL_HD = 2;

async function enqueuePaused(ctx: Ctx, queue: BenchQueue, firstId: number, count: number, kind: DrainKind): Promise<void> {
  const { jobOptions } = queueSettings(DEFAULTS);
  const perJob = DEFAULTS.JOB_MAX_RECORDS;
  await queue.pause();
  for (let i = 0; i < count; i += perJob * 20) {
    const jobs = [];
    for (let j = i; j < Math.min(count, i + perJob * 20); j += perJob) {
      const now = Date.now();
      const n = Math.min(perJob, count - j);
      jobs.push({ name: JOB_NAME, data: { records: Array.from({ length: n }, (_, k) => record(firstId + j + k, now, kind === 'update' ? UPDATED_TOTAL_HD : undefined)) }, opts: jobOptions });
    }
    await queue.addBulk(jobs);
    ctx.checkDeadline();
  }
}

/** The older version of each patient, stored before an update drain (raw inserts: not measured). */
async function prestore(ctx: Ctx, db: string, firstId: number, count: number): Promise<void> {
  const schema = benchSchema();
  const patients = ctx.mongo.db(db).collection<PatientDocument>('patients');
  const then = Date.now() - 3_600_000;
  for (let i = 0; i < count; i += 1000) {
    const docs = Array.from({ length: Math.min(1000, count - i) }, (_, k) => patientDocument(schema, record(firstId + i + k, then), '1', k));
    await patients.insertMany(docs, { ordered: false });
    ctx.checkDeadline();
  }
}

const applied = (patients: Collection<PatientDocument>, kind: DrainKind) => patients.countDocuments(kind === 'update' ? { total_hd: UPDATED_TOTAL_HD } : {}, { timeoutMS: 60_000 });

async function drainWith(ctx: Ctx, kind: DrainKind, workers: number, round: number): Promise<DrainRun> {
  const p = ctx.params;
  const tag = `${kind[0]}${workers}`;
  const target = { queue: `drain-${tag}-r${round}`, db: `bench_drain_${tag}_r${round}` };
  const queue = openQueue(ctx, target.queue);
  const count = kind === 'update' ? p.drainUpdates : p.drainJobs;
  const label = `${workers} worker${workers > 1 ? 's' : ''}, ${kind}`;
  try {
    const first = takeIds(count);
    if (kind === 'update') await prestore(ctx, target.db, first, count);
    say(`scenario 3 round ${round}/${p.rounds}: ${label}: enqueueing ${count} records (queue paused)`);
    await enqueuePaused(ctx, queue, first, count, kind);
    const procs = await Promise.all(Array.from({ length: workers }, (_, i) => startWorker(ctx, 'worker', target, `worker-s3-${tag}-${i + 1}-r${round}`)));
    try {
      const t0 = performance.now();
      await queue.resume();
      const res = await waitDrained(queue, p.drainMaxS);
      const seconds = (performance.now() - t0) / 1000;
      const stored = await applied(ctx.mongo.db(target.db).collection<PatientDocument>('patients'), kind);
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
 * The worker's own kind of write on this server: on MongoDB the version-guarded replace-with-upsert
 * for both kinds; on FerretDB (src/worker/README.md) an insert for a new patient and a replace by
 * `_id` for a stored one (after its read, under the patient lock).
 */
async function rawOperations(ctx: Ctx): Promise<Record<DrainKind, string>> {
  const info = await ctx.mongo.db('admin').command({ buildInfo: 1 });
  return 'ferretdbVersion' in info ? { new: 'insertOne', update: 'replaceOne by _id' } : { new: 'replaceOne-upsert (guarded)', update: 'replaceOne-upsert (guarded)' };
}

function rawOp(op: string, doc: PatientDocument): AnyBulkWriteOperation<PatientDocument> {
  if (op === 'insertOne') return { insertOne: { document: doc } };
  if (op === 'replaceOne by _id') return { replaceOne: { filter: { _id: doc._id }, replacement: doc } };
  return { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $lt: doc._ingest.version } }, replacement: doc, upsert: true } };
}

async function rawBulkWrite(ctx: Ctx, kind: DrainKind, op: string, round: number): Promise<DrainRun> {
  const p = ctx.params;
  const db = `bench_drain_raw${kind[0]}_r${round}`;
  const schema = benchSchema();
  const count = kind === 'update' ? p.drainUpdates : p.drainJobs;
  const first = takeIds(count);
  try {
    if (kind === 'update') await prestore(ctx, db, first, count);
    const now = Date.now();
    const docs = Array.from({ length: count }, (_, i) => patientDocument(schema, record(first + i, now, kind === 'update' ? UPDATED_TOTAL_HD : undefined), '2', i));
    const patients = ctx.mongo.db(db).collection<PatientDocument>('patients');
    const wc = { w: DEFAULTS.MONGO_WRITE_CONCERN, journal: DEFAULTS.MONGO_JOURNAL };
    say(`scenario 3 round ${round}/${p.rounds}: raw driver, ${kind}: bulkWrite (${op}) of ${docs.length} documents in batches of ${p.rawBatchSize}`);
    const t0 = performance.now();
    let failed = 0;
    // Updates in smaller bulks: each op scans on FerretDB, and the time limit is checked between bulks.
    const size = kind === 'update' ? Math.min(p.rawBatchSize, 100) : p.rawBatchSize;
    for (let i = 0; i < docs.length; i += size) {
      try {
        const chunk = docs.slice(i, i + size);
        if (op === 'replaceOne by _id') {
          // As the worker's FerretDB strategy sends them: each replace alone, 16 at once (a bulk of
          // replaces on FerretDB v1 + PostgreSQL was seen to hang its connection for good).
          for (let k = 0; k < chunk.length; k += 16) {
            await Promise.all(chunk.slice(k, k + 16).map((doc) => patients.replaceOne({ _id: doc._id }, doc, { writeConcern: wc, timeoutMS: 30_000 })));
          }
        } else await patients.bulkWrite(chunk.map((doc) => rawOp(op, doc)), { ordered: false, writeConcern: wc, timeoutMS: 60_000 });
      } catch (err) {
        // The server gave up on a batch (seen with FerretDB under load): counted, the run goes on.
        failed++;
        say(`  raw, ${kind}: a bulkWrite failed (${(err as Error).name}: ${(err as { code?: unknown }).code ?? ""}); going on`);
      }
      ctx.checkDeadline();
      if ((performance.now() - t0) / 1000 > p.drainMaxS) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const stored = await applied(patients, kind).catch(() => 0);
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
  const rounds: DrainResult['rounds'] = { workerNew: [], rawNew: [], workerUpdate: [], rawUpdate: [], twoWorkersNew: [] };
  for (let r = 1; r <= p.rounds; r++) {
    ctx.checkDeadline();
    rounds.workerNew.push(await drainWith(ctx, 'new', 1, r));
    rounds.rawNew.push(await rawBulkWrite(ctx, 'new', ops.new, r));
    rounds.twoWorkersNew.push(await drainWith(ctx, 'new', 2, r));
    rounds.workerUpdate.push(await drainWith(ctx, 'update', 1, r));
    rounds.rawUpdate.push(await rawBulkWrite(ctx, 'update', ops.update, r));
  }
  const rate = (runs: DrainRun[]) => median(runs.map((x) => x.perS));
  const ratio = (a: DrainRun[], b: DrainRun[]) => medianRatio(a.map((x, i) => ({ a: x.perS, b: b[i]?.perS ?? null })));
  return {
    records: p.drainJobs,
    updates: p.drainUpdates,
    recordsPerJob: DEFAULTS.JOB_MAX_RECORDS,
    maxSeconds: p.drainMaxS,
    workerConcurrency: DEFAULTS.WORKER_CONCURRENCY,
    rawBatchSize: p.rawBatchSize,
    rawOperation: ops,
    rounds,
    medians: {
      workerNewPerS: rate(rounds.workerNew),
      rawNewPerS: rate(rounds.rawNew),
      workerUpdatePerS: rate(rounds.workerUpdate),
      rawUpdatePerS: rate(rounds.rawUpdate),
      twoWorkersNewPerS: rate(rounds.twoWorkersNew),
    },
    ratios: {
      workerVsRawNew: ratio(rounds.workerNew, rounds.rawNew),
      workerVsRawUpdate: ratio(rounds.workerUpdate, rounds.rawUpdate),
      twoWorkersVsOne: ratio(rounds.twoWorkersNew, rounds.workerNew),
    },
  };
}
