// The embedded server at a registry's size (issue 10): FerretDB v1.24 on SQLite vs on PostgreSQL,
// each on a fresh collection of N seed-shaped patients, with a numeric and with a string _id
// ("<center_id>:<id>", the planned tenancy key). Measures the operations the worker and the API
// use, the worker's own write path on updates of known patients, and whether the guarded replace
// is atomic there (racing writers without the lock).
//
//   node bench/embedded-backends.ts [--n 100000] [--only sqlite|postgresql] [--out bench/results/embedded-backends.md]
//
// Starts its own servers on loopback ports in a temp dir (removed afterwards); ~5 min at 100,000.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient, type Collection } from 'mongodb';
import { ferretdbServer, redisServer, started, type EmbeddedBackend, type LocalServer } from '../test/support/local-servers.ts';
import type { PatientDocument } from '../src/shared/mongo.ts';
import { createRedis } from '../src/shared/redis.ts';
import { createPatientStore } from '../src/worker/write/batch-write.ts';
import { createWriteLock } from '../src/worker/write/write-lock.ts';
import { ferretStrategy } from '../src/worker/write/write-strategy.ts';
import { benchSchema, patientDocument, record } from './lib/patients.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100000' }, only: { type: 'string' }, out: { type: 'string' } } });
const N = Number(values.n);
const backends: EmbeddedBackend[] = values.only ? [values.only as EmbeddedBackend] : ['sqlite', 'postgresql'];
const schema = benchSchema();
const say = (m: string) => process.stderr.write(`[embedded] ${m}\n`);

type Key = 'number' | 'string';
// Typed as PatientDocument's string _id ("<center>:<id>"); the number one (the legacy key) is the same to the server.
const keyOf = (kind: Key, id: number) => (kind === 'number' ? id : `3:${id}`) as string;
function doc(kind: Key, id: number, version: number): PatientDocument {
  const d = patientDocument(schema, record(id, Date.UTC(2025, 0, 1) + version), String(version).padStart(8, '0'), 0);
  return { ...d, _id: keyOf(kind, id) };
}

/** Median ms of up to `reps` runs; a slow operation (a scan) is run once. */
async function time(fn: () => Promise<unknown>, reps = 5): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    runs.push(performance.now() - t);
    if (runs[0]! > 1000) break;
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
}

async function measure(patients: Collection<PatientDocument>, kind: Key, redisUrl: string, updates: number) {
  const r: Record<string, number> = {};
  let t = performance.now();
  for (let i = 1; i <= N; i += 1000) await patients.insertMany(Array.from({ length: Math.min(1000, N - i + 1) }, (_, j) => doc(kind, i + j, 1)), { ordered: false });
  r.insertPerS = N / ((performance.now() - t) / 1000);
  const near = (k: number) => keyOf(kind, N - k);
  r.findOneMs = await time(() => patients.findOne({ _id: near(1) }));
  let v = 2;
  r.guardedMs = await time(() => {
    const d = doc(kind, N - 2, v++);
    return patients.replaceOne({ _id: d._id, '_ingest.version': { $not: { $gte: d._ingest.version } } }, d, { upsert: true });
  });
  r.replaceByIdMs = await time(() => patients.replaceOne({ _id: near(3) }, doc(kind, N - 3, v++)));
  r.inMs = await time(() => patients.find({ _id: { $in: [near(4), near(5), near(6)] } }).toArray());
  r.threeEqualityMs = await time(() => Promise.all([near(4), near(5), near(6)].map((_id) => patients.findOne({ _id }))));
  // The worker's write path (lock, read first by equality, guarded replace) on updates of known patients.
  const redis = createRedis(redisUrl, 'worker');
  try {
    const store = createPatientStore({ patients, strategy: ferretStrategy(createWriteLock(redis, `bench:${kind}`, 30_000), 30_000) });
    const ids = Array.from({ length: updates }, (_, i) => 1 + Math.floor((i * N) / updates));
    t = performance.now();
    const results = await store.write(ids.map((id) => ({ doc: doc(kind, id, 50) })));
    r.perUpdateMs = (performance.now() - t) / updates;
    r.updates = updates;
    r.updatesFailed = results.filter((x) => !x.ok || x.outcome !== 'updated').length;
  } finally {
    redis.disconnect();
  }
  return r;
}

/** 8 clients race 40 versions of one patient with the guarded replace and NO lock, 10 rounds. */
async function race(url: string, db: string): Promise<number> {
  const clients = await Promise.all(Array.from({ length: 8 }, () => new MongoClient(url).connect()));
  let olderLast = 0;
  try {
    for (let round = 0; round < 10; round++) {
      const id = 900_000_000 + round;
      await Promise.all(Array.from({ length: 40 }, (_, i) => {
        const d = doc('number', id, 40 - i);
        const c = clients[i % clients.length]!.db(db).collection<PatientDocument>('race');
        return c.replaceOne({ _id: keyOf('number', id), '_ingest.version': { $not: { $gte: d._ingest.version } } }, d, { upsert: true }).catch(() => {}); // E11000 = refused
      }));
      const stored = await clients[0]!.db(db).collection<PatientDocument>('race').findOne({ _id: keyOf('number', id) });
      if (stored?._ingest.version !== doc('number', id, 40)._ingest.version) olderLast++;
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return olderLast;
}

const dir = mkdtempSync(join(tmpdir(), 'hemo-embedded-'));
const servers: LocalServer[] = [];
const rows: string[] = [];
try {
  const redis = await started(redisServer({ dataDir: join(dir, 'redis'), fsync: 'everysec' }));
  servers.push(redis);
  for (const backend of backends) {
    const t0 = performance.now();
    const ferret = await started(ferretdbServer({ dataDir: join(dir, backend), backend }));
    servers.push(ferret);
    say(`${backend}: started in ${Math.round(performance.now() - t0)} ms`);
    const client = await new MongoClient(ferret.url).connect();
    try {
      for (const kind of ['number', 'string'] as const) {
        // SQLite scans for every guarded replace: a few updates show the cost.
        const r = await measure(client.db(`bench_${kind}`).collection<PatientDocument>('patients'), kind, redis.url, backend === 'sqlite' ? 4 : 100);
        say(`${backend} ${kind} _id: ${JSON.stringify(r)}`);
        rows.push(`| ${backend} | ${kind} | ${Math.round(r.insertPerS!).toLocaleString('en')} | ${ms(r.findOneMs)} | ${ms(r.guardedMs)} | ${ms(r.replaceByIdMs)} | ${ms(r.inMs)} | ${ms(r.threeEqualityMs)} | ${ms(r.perUpdateMs)} (${r.updates} in one call${r.updatesFailed ? `, ${r.updatesFailed} not updated` : ''}) |`);
      }
      const olderLast = await race(ferret.url, 'bench_race');
      say(`${backend}: guarded replace without the lock: an older version landed last in ${olderLast} of 10 rounds`);
      rows.push(`| ${backend} | race | guarded replace, 8 clients × 40 versions, no lock: older version stored last in **${olderLast} of 10** rounds | | | | | | |`);
    } finally {
      await client.close();
      await ferret.stop();
    }
  }
} finally {
  for (const s of servers.reverse()) await s.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

function ms(x: number | undefined): string {
  return x === undefined ? '' : x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`;
}

const table = [
  `FerretDB v1.24.2, ${N.toLocaleString('en')} seed-shaped patients per collection (${new Date().toISOString().slice(0, 10)}, \`node bench/embedded-backends.ts --n ${N}\`)`,
  '',
  '| backend | _id | insertMany 1000/call (docs/s) | findOne({_id}) | guarded replace (worker filter) | replaceOne({_id}) | find $in 3 ids | 3 findOne({_id}) at once | worker write path, per update |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
].join('\n');
process.stdout.write(`${table}\n`);
if (values.out) writeFileSync(values.out, `${table}\n`);
