// `npm run bench [-- --quick | --smoke] [--out DIR] [--only s1,s2,s3,s4,s5,s6,s7] [--profile]`
// (s6, 1 vs 4 queue partitions on Redis and a Redis Cluster, runs only when --only names it)
//
// Starts its own Redis and FerretDB (test/support/local-servers.ts, free ports, a temp dir), the real API
// and worker as processes and the reference servers under bench/reference, runs each scenario for a
// bounded time with progress on stderr, and writes latest.json and latest.md (tables and Mermaid charts) to
// bench/results (or --out). See bench/README.md for the method.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { embeddedBackend, ferretdbBinary, ferretdbServer, redisServer, ROOT, started, type LocalServer } from '../test/support/local-servers.ts';
import { createHarnessMongo, createHarnessRedis, type Ctx } from './lib/context.ts';
import { MODES, type Mode } from './lib/modes.ts';
import { RssSampler, stopAll, type Role } from './lib/procs.ts';
import { computeTargets, peakRss, renderMarkdown, type BenchResults } from './lib/report.ts';
import { round, say, setQuiet } from './lib/util.ts';
import { drain } from './scenarios/drain.ts';
import { endToEnd, soak } from './scenarios/end-to-end.ts';
import { intakeBatch, intakeSingle } from './scenarios/intake.ts';
import { partitionsScenario } from './scenarios/partitions.ts';
import { importWait } from './scenarios/import-wait.ts';

const ALL = ['s1', 's2', 's3', 's4', 's5', 's7'] as const;
const OPTIONAL = ['s6'] as const;
type Step = (typeof ALL)[number] | (typeof OPTIONAL)[number];

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const mode: Mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
  const only = values.only ? (values.only.split(',').map((s) => s.trim()) as Step[]) : [...ALL];
  for (const s of only) if (![...ALL, ...OPTIONAL].includes(s)) throw new Error(`--only: unknown step ${s} (known: ${[...ALL, ...OPTIONAL].join(',')})`);
  return { mode, out: resolve(values.out ?? join(ROOT, 'bench', 'results')), only, profile: values.profile, quiet: values.quiet };
}

function version(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, DO_NOT_TRACK: '1' } }).trim().split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  const head = version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = version('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']);
  return head ? `${head}${dirty ? ' (src/ has uncommitted changes)' : ''}` : null;
}

function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** The API and the worker run as production runs them: compiled JavaScript (dist/), built here (incremental). */
function build(): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
}

async function main() {
  const opts = options();
  build();
  setQuiet(opts.quiet);
  const params = MODES[opts.mode];
  const startedAt = new Date();
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'hemo-bench-'));
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(opts.out, { recursive: true });
  say(`mode ${params.mode}: steps ${opts.only.join(',')}, ${params.rounds} round(s), hard limit ${params.hardLimitS} s; temp dir ${tmp}`);

  const servers: LocalServer[] = [];
  let aborted = false;
  let failed = false;
  const cleanup = async () => {
    await stopAll();
    for (const s of servers.reverse()) await s.stop();
    if (failed || process.env.BENCH_KEEP_LOGS === '1') {
      // Keep the logs of every process (and of Redis and FerretDB) for the post-mortem; drop the data.
      for (const d of ['redis', 'ferretdb']) rmSync(join(tmp, d), { recursive: true, force: true });
      say(`logs kept in ${logDir}`);
    } else rmSync(tmp, { recursive: true, force: true });
  };
  const hardLimit = setTimeout(() => {
    aborted = true;
    say(`hard time limit of ${params.hardLimitS} s reached: stopping`);
    void cleanup().finally(() => process.exit(3));
  }, params.hardLimitS * 1000);
  hardLimit.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping everything this run started`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const logTo = (name: string) => (line: string) => appendFileSync(join(logDir, name), line);
  servers.push(await started(redisServer({ dataDir: join(tmp, 'redis'), log: logTo('redis.log') })));
  const redisSrv = servers[0]!;
  // BENCH_MONGO_URL: a real MongoDB instead (e.g. `docker compose up mongo`); only bench_* databases are touched.
  let mongoUrl = process.env.BENCH_MONGO_URL;
  let mongoKind: string;
  if (mongoUrl) {
    mongoKind = `external MongoDB-protocol server (BENCH_MONGO_URL)`;
  } else {
    const ferret = await started(ferretdbServer({ dataDir: join(tmp, 'ferretdb'), log: logTo('ferretdb.log') }));
    servers.push(ferret);
    mongoUrl = ferret.url;
    mongoKind = `FerretDB ${version(ferretdbBinary(), ['--version'])?.match(/v[\d.]+/)?.[0] ?? '?'} on ${embeddedBackend() === 'postgresql' ? 'PostgreSQL' : 'SQLite'}`;
  }
  say(`Redis ${redisSrv.url} (AOF, appendfsync always), ${mongoKind} ${mongoUrl}`);

  const profileDir = join(opts.out, 'profiles');
  // BENCH_NODE_ARGS_API / _WORKER: extra node flags for the real processes, e.g. heap limits to try.
  const extraArgs = (role: Role) => (process.env[`BENCH_NODE_ARGS_${role.toUpperCase()}`] ?? '').split(/\s+/).filter(Boolean);
  const prof = (role: Role) => [...extraArgs(role), ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, role)}`] : [])];
  const rss = new RssSampler(params.rssIntervalMs);
  rss.start();
  const ctx: Ctx = {
    params,
    logDir,
    redisUrl: redisSrv.url,
    mongoUrl,
    redis: createHarnessRedis(redisSrv.url),
    mongo: createHarnessMongo(mongoUrl),
    rss,
    nodeArgs: { api: prof('api'), worker: prof('worker'), bare202: prof('bare202'), syncMongo: prof('syncMongo') },
    checkDeadline: () => {
      if (aborted) throw new Error('aborted: past the hard time limit');
    },
    dropDatabases: Boolean(process.env.BENCH_MONGO_URL),
  };

  const results: BenchResults = {
    schema: 1,
    mode: params.mode,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    durationS: 0,
    commit: gitCommit(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? null,
      memoryGiB: round(totalmem() / 1024 ** 3, 1),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      redis: version('redis-server', ['--version'])?.match(/v=(\S+)/)?.[1] ?? null,
      mongo: mongoKind,
      loadavgAtStart: loadavg().map((x) => round(x, 2)!),
      loadavgAtEnd: [],
    },
    params,
    steps: opts.only,
    scenarios: {},
    memory: null,
    targets: [],
  };

  try {
    if (opts.only.includes('s1')) results.scenarios.intakeSingle = await intakeSingle(ctx);
    if (opts.only.includes('s2')) results.scenarios.intakeBatch = await intakeBatch(ctx);
    if (opts.only.includes('s3')) results.scenarios.drain = await drain(ctx);
    // The steady load for 4 and the soak: a fraction of what this run measured the two halves can do.
    const intakeRps = results.scenarios.intakeSingle?.medians.service.rps ?? null;
    const drainRate = results.scenarios.drain?.medians.workerNewPerS ?? null;
    const known = [intakeRps, drainRate].filter((x): x is number => x !== null && x > 0);
    const rate = known.length ? Math.max(20, Math.round(params.e2eLoadFraction * Math.min(...known))) : params.e2eDefaultRate;
    const rateRule = known.length
      ? `max(20, ${params.e2eLoadFraction} x min(intake req/s ${round(intakeRps, 0) ?? 'n/a'}, drain jobs/s ${round(drainRate, 0) ?? 'n/a'})) measured earlier in this run`
      : `default ${params.e2eDefaultRate} req/s (scenarios 1 and 3 not run)`;
    if (opts.only.includes('s4')) results.scenarios.endToEnd = await endToEnd(ctx, rate, rateRule);
    // The soak re-sends stored patients: at half the update rate scenario 3 measured at the large size.
    const updateRate = results.scenarios.drain?.updates.medians.workerLargePerS ?? null;
    const soakRate = updateRate && updateRate > 0 ? Math.max(20, Math.round(params.e2eLoadFraction * updateRate)) : rate;
    if (opts.only.includes('s5')) results.scenarios.soak = await soak(ctx, soakRate);
    if (opts.only.includes('s6')) results.scenarios.partitions = await partitionsScenario(ctx);
    if (opts.only.includes('s7')) results.scenarios.importWait = await importWait(ctx, params.importRecords);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    rss.stop();
    clearTimeout(hardLimit);
    results.machine.loadavgAtEnd = loadavg().map((x) => round(x, 2)!);
    await ctx.redis.quit().catch(() => {});
    await ctx.mongo.close().catch(() => {});
    await cleanup();
  }

  results.memory = peakRss(rss.samples, results.scenarios.soak ?? null);
  results.finishedAt = new Date().toISOString();
  results.durationS = round((performance.now() - t0) / 1000, 1)!;
  results.targets = computeTargets(results);

  writeAtomic(join(opts.out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeAtomic(join(opts.out, 'latest.md'), renderMarkdown(results));
  say(`done in ${results.durationS} s: ${join(opts.out, 'latest.json')} and latest.md`);
  for (const t of results.targets) say(`  ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'} ${t.name}: ${t.measured ?? 'n/a'} ${t.unit} (target ${t.comparator} ${t.target})`);
}

main().catch(async (err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  await stopAll();
  process.exit(1);
});
