// Scenario 3, updates: re-sent patients (what centers mostly send), each already stored in an older
// version, drained by the real worker at two registry sizes (`updateStoredSmall` and
// `updateStoredLarge` stored patients), next to the raw driver doing the worker's own kind of write
// (the version-guarded replace-with-upsert, each op alone) with as many operations in flight as the
// worker can have (WORKER_CONCURRENCY jobs x SINGLE_PARALLEL) on as many connections (MONGO_POOL_SIZE).
// At the large size the real API answers `GET /api/patients/{id}` for random stored patients meanwhile:
// idle first, then during the worker's drain, and during the raw one (the same extra load on both).
import { MongoClient, type Collection } from 'mongodb';
import { loadConfig } from '../../src/shared/config/config.ts';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { JOB_NAME, queueSettings } from '../../src/shared/queue.ts';
import { AUTH_HEADERS } from '../lib/auth.ts';
import { dropDb, flushRedis, openQueue, startHttp, startWorker, waitDrained, type Ctx } from '../lib/context.ts';
import { benchSchema, patientDocument, record, takeIds } from '../lib/patients.ts';
import { median, medianRatio, percentileSorted, say, sleep } from '../lib/util.ts';
import type { DrainRun } from './drain.ts';
import { SINGLE_PARALLEL } from '../../src/worker/write/guarded-replace.ts';

export type ReadProbe = { reads: number; errors: number; p50: number | null; p99: number | null };
export type UpdateRounds = { workerSmall: DrainRun[]; rawSmall: DrainRun[]; workerLarge: DrainRun[]; rawLarge: DrainRun[]; rawLargeWidePool: DrainRun[]; readsIdle: ReadProbe[]; readsDuringDrain: ReadProbe[]; readsDuringRaw: ReadProbe[] };
export type UpdatesResult = {
  stored: { small: number; large: number };
  updates: { small: number; large: number };
  maxSeconds: number;
  rawOperation: string;
  rawInFlight: number;
  rawPool: number;
  rawWidePool: number;
  rounds: UpdateRounds;
  medians: { workerSmallPerS: number | null; rawSmallPerS: number | null; workerLargePerS: number | null; rawLargePerS: number | null; rawLargeWidePoolPerS: number | null; getIdleP50Ms: number | null; getDrainP50Ms: number | null; getDrainP99Ms: number | null };
  ratios: { workerVsRawSmall: number | null; workerVsRawLarge: number | null; largeVsSmall: number | null };
};

const DEFAULTS = loadConfig({ REDIS_URL: 'redis://x', MONGO_URL: 'mongodb://x' });
/** Updates are marked by this value, so "how many are applied" is one count. */
export const UPDATED_TOTAL_HD = 2;
const RAW_IN_FLIGHT = DEFAULTS.WORKER_CONCURRENCY * SINGLE_PARALLEL;
const PROBE_EVERY_MS = 50;
const WIDE_POOL = 20;

/** The older version of `count` patients, stored with raw inserts (not measured). */
export async function prestore(ctx: Ctx, db: string, firstId: number, count: number): Promise<void> {
  const schema = benchSchema();
  const patients = ctx.mongo.db(db).collection<PatientDocument>('patients');
  const then = Date.now() - 3_600_000;
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1000) {
    const docs = Array.from({ length: Math.min(1000, count - i) }, (_, k) => patientDocument(schema, record(firstId + i + k, then), '1', k));
    await patients.insertMany(docs, { ordered: false });
    ctx.checkDeadline();
  }
  if (count >= 10_000) say(`  stored ${count} patients beforehand in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const applied = (patients: Collection<PatientDocument>) => patients.countDocuments({ total_hd: UPDATED_TOTAL_HD }, { timeoutMS: 120_000 });

/** GETs of random stored patients through the real API, one at a time, until `stop()`. */
function probeReads(url: string, firstId: number, count: number) {
  const ms: number[] = [];
  let errors = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const id = firstId + Math.floor(Math.random() * count);
      const t = performance.now();
      const res = await fetch(`${url}/api/patients/${id}`, { headers: AUTH_HEADERS, signal: AbortSignal.timeout(30_000) }).catch(() => null);
      if (res?.status === 200) ms.push(performance.now() - t);
      else errors++;
      await res?.arrayBuffer().catch(() => {});
      await sleep(PROBE_EVERY_MS);
    }
  })();
  return async (): Promise<ReadProbe> => {
    running = false;
    await done;
    const sorted = ms.sort((a, b) => a - b);
    return { reads: sorted.length, errors, p50: percentileSorted(sorted, 50), p99: percentileSorted(sorted, 99) };
  };
}

async function workerDrain(ctx: Ctx, size: 'small' | 'large', stored: number, count: number, round: number, reads?: { idle: ReadProbe[]; during: ReadProbe[] }): Promise<DrainRun> {
  const target = { queue: `drain-u-${size}-r${round}`, db: `bench_drain_u_${size}_r${round}` };
  const queue = openQueue(ctx, target.queue);
  const { jobOptions } = queueSettings(DEFAULTS);
  try {
    const first = takeIds(stored);
    await prestore(ctx, target.db, first, stored);
    say(`scenario 3 round ${round}/${ctx.params.rounds}: 1 worker, ${count} updates of ${stored} stored patients (queue paused)`);
    await queue.pause();
    const perJob = DEFAULTS.JOB_MAX_RECORDS;
    for (let j = 0; j < count; j += perJob) {
      const n = Math.min(perJob, count - j);
      const now = Date.now();
      await queue.add(JOB_NAME, { records: Array.from({ length: n }, (_, k) => record(first + j + k, now, UPDATED_TOTAL_HD)) }, jobOptions);
    }
    const api = reads ? await startHttp(ctx, 'api', target, `api-s3-reads-r${round}`) : undefined;
    const worker = await startWorker(ctx, 'worker', target, `worker-s3-u-${size}-r${round}`);
    try {
      if (api && reads) {
        const idle = probeReads(api.url, first, stored);
        await sleep(3000);
        reads.idle.push(await idle());
      }
      const during = api ? probeReads(api.url, first, stored) : undefined;
      const t0 = performance.now();
      await queue.resume();
      const res = await waitDrained(queue, ctx.params.updateMaxS);
      const seconds = (performance.now() - t0) / 1000;
      if (during && reads) reads.during.push(await during());
      const done = await applied(ctx.mongo.db(target.db).collection<PatientDocument>('patients'));
      const run = { records: count, stored: done, seconds, perS: done / seconds, complete: res.done && done === count, failed: res.failed };
      say(`  worker, ${size}: ${done}/${count} updates in ${seconds.toFixed(2)} s = ${run.perS.toFixed(0)}/s${res.done ? '' : ' (stopped at the time limit)'}${reads ? `; GET p50 idle ${reads.idle.at(-1)?.p50?.toFixed(1)} ms, during ${reads.during.at(-1)?.p50?.toFixed(1)} ms` : ''}`);
      return run;
    } finally {
      await worker.stop();
      await api?.stop();
    }
  } finally {
    await queue.close();
    await flushRedis(ctx);
    await dropDb(ctx, target.db);
  }
}

async function rawDrain(ctx: Ctx, size: 'small' | 'large', stored: number, count: number, round: number, reads?: ReadProbe[], pool = DEFAULTS.MONGO_POOL_SIZE): Promise<DrainRun> {
  const db = `bench_drain_raw_u_${size}_p${pool}_r${round}`;
  // Its own client with the worker's pool: the same ops in flight on as many connections.
  const client = new MongoClient(ctx.mongoUrl, { maxPoolSize: pool });
  try {
    const first = takeIds(stored);
    await prestore(ctx, db, first, stored);
    const schema = benchSchema();
    const now = Date.now();
    const docs = Array.from({ length: count }, (_, i) => patientDocument(schema, record(first + i, now, UPDATED_TOTAL_HD), '2', i));
    const patients = client.db(db).collection<PatientDocument>('patients');
    // The indexes the worker creates at start (src/worker/write/indexes.ts): every write maintains them.
    await patients.createIndex({ id: 1 }, { name: 'id_across_centers' });
    const wc = { w: DEFAULTS.MONGO_WRITE_CONCERN, journal: DEFAULTS.MONGO_JOURNAL };
    say(`scenario 3 round ${round}/${ctx.params.rounds}: raw driver, ${count} guarded replaces of ${stored} stored patients, ${RAW_IN_FLIGHT} in flight on ${pool} connections`);
    // The same reads beside it as beside the worker: both writers meet the same extra load.
    const api = reads ? await startHttp(ctx, 'api', { queue: `drain-raw-${round}`, db }, `api-s3-raw-reads-r${round}`) : undefined;
    const during = api ? probeReads(api.url, first, stored) : undefined;
    let next = 0;
    let failed = 0;
    const t0 = performance.now();
    const lane = async () => {
      while (next < docs.length && (performance.now() - t0) / 1000 < ctx.params.updateMaxS) {
        const doc = docs[next++]!;
        const filter = { _id: doc._id, '_ingest.version': { $not: { $gte: doc._ingest.version } } };
        await patients.replaceOne(filter, doc, { upsert: true, writeConcern: wc, timeoutMS: 30_000 }).catch(() => void failed++);
      }
    };
    await Promise.all(Array.from({ length: RAW_IN_FLIGHT }, lane));
    const seconds = (performance.now() - t0) / 1000;
    if (during && reads) reads.push(await during());
    await api?.stop();
    const done = await applied(patients);
    say(`  raw, ${size}: ${done}/${count} in ${seconds.toFixed(2)} s = ${(done / seconds).toFixed(0)}/s${failed ? `, ${failed} failed` : ''}`);
    return { records: count, stored: done, seconds, perS: done / seconds, complete: done === count, failed };
  } finally {
    await client.close();
    await dropDb(ctx, db);
  }
}

export async function drainUpdates(ctx: Ctx): Promise<UpdatesResult> {
  const p = ctx.params;
  const small = Math.min(p.updateStoredSmall, p.drainUpdates);
  const rounds: UpdateRounds = { workerSmall: [], rawSmall: [], workerLarge: [], rawLarge: [], rawLargeWidePool: [], readsIdle: [], readsDuringDrain: [], readsDuringRaw: [] };
  for (let r = 1; r <= p.rounds; r++) {
    ctx.checkDeadline();
    rounds.workerSmall.push(await workerDrain(ctx, 'small', p.updateStoredSmall, small, r));
    rounds.rawSmall.push(await rawDrain(ctx, 'small', p.updateStoredSmall, small, r));
    rounds.workerLarge.push(await workerDrain(ctx, 'large', p.updateStoredLarge, p.drainUpdates, r, { idle: rounds.readsIdle, during: rounds.readsDuringDrain }));
    rounds.rawLarge.push(await rawDrain(ctx, 'large', p.updateStoredLarge, p.drainUpdates, r, rounds.readsDuringRaw));
    // Not a target: what the database gives with more connections than the worker uses (its best here).
    rounds.rawLargeWidePool.push(await rawDrain(ctx, 'large', p.updateStoredLarge, p.drainUpdates, r, undefined, WIDE_POOL));
  }
  const rate = (runs: DrainRun[]) => median(runs.map((x) => x.perS));
  const ratio = (a: DrainRun[], b: DrainRun[]) => medianRatio(a.map((x, i) => ({ a: x.perS, b: b[i]?.perS ?? null })));
  const probe = (xs: ReadProbe[], k: 'p50' | 'p99') => median(xs.flatMap((x) => (x[k] === null ? [] : [x[k]!])));
  return {
    stored: { small: p.updateStoredSmall, large: p.updateStoredLarge },
    updates: { small, large: p.drainUpdates },
    maxSeconds: p.updateMaxS,
    rawOperation: 'replaceOne-upsert (guarded), each alone',
    rawInFlight: RAW_IN_FLIGHT,
    rawPool: DEFAULTS.MONGO_POOL_SIZE,
    rawWidePool: WIDE_POOL,
    rounds,
    medians: {
      workerSmallPerS: rate(rounds.workerSmall),
      rawSmallPerS: rate(rounds.rawSmall),
      workerLargePerS: rate(rounds.workerLarge),
      rawLargePerS: rate(rounds.rawLarge),
      rawLargeWidePoolPerS: rate(rounds.rawLargeWidePool),
      getIdleP50Ms: probe(rounds.readsIdle, 'p50'),
      getDrainP50Ms: probe(rounds.readsDuringDrain, 'p50'),
      getDrainP99Ms: probe(rounds.readsDuringDrain, 'p99'),
    },
    ratios: { workerVsRawSmall: ratio(rounds.workerSmall, rounds.rawSmall), workerVsRawLarge: ratio(rounds.workerLarge, rounds.rawLarge), largeVsSmall: ratio(rounds.workerLarge, rounds.workerSmall) },
  };
}
