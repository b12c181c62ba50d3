// What every scenario gets: the parameters, its own Redis and FerretDB, the RSS sampler, and helpers
// to start the real API and worker (and the reference processes) against a given queue and database.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { freePort } from '../../test/support/local-servers.ts';
import type { PatientJobData, PatientJobResult } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { API_AUTH_ENV } from './auth.ts';
import type { Params } from './modes.ts';
import { RssSampler, spawnNode, waitForHttp, waitForLog, type NodeProc, type Role } from './procs.ts';
import { sleep } from './util.ts';

export type Ctx = {
  params: Params;
  logDir: string;
  redisUrl: string;
  mongoUrl: string;
  /** The harness's own connections: enqueueing, FLUSHALL between measurements, reading results. */
  redis: Redis;
  mongo: MongoClient;
  rss: RssSampler;
  /** Extra node flags per role, e.g. --cpu-prof when profiling. */
  nodeArgs: Partial<Record<Role, string[]>>;
  /** Throws when the run is past its hard time limit. */
  checkDeadline: () => void;
  /**
   * Drop each measurement's database afterwards. Only on an external server (BENCH_MONGO_URL):
   * FerretDB v1.24 on SQLite deletes the database file under connections that still have its WAL
   * mapped and dies with SIGBUS (seen twice here); every measurement uses its own database anyway,
   * and the local server's whole data dir goes with the run's temp dir.
   */
  dropDatabases: boolean;
};

export type Target = { queue: string; db: string };

export type HttpProc = NodeProc & { url: string };

function env(ctx: Ctx, target: Target, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: ctx.redisUrl,
    MONGO_URL: ctx.mongoUrl,
    MONGO_DB: target.db,
    QUEUE_NAME: target.queue,
    API_HOST: '127.0.0.1',
    ...extra,
  };
}

/** The real API (`node src/api/server.ts`) or a reference HTTP server, on a free port. */
export async function startHttp(ctx: Ctx, role: 'api' | 'bare202' | 'syncMongo', target: Target, label: string = role, moreEnv: Record<string, string> = {}): Promise<HttpProc> {
  const port = await freePort();
  const extra = { API_PORT: String(port), ...(role === 'api' ? API_AUTH_ENV : {}), ...moreEnv };
  const proc = spawnNode(role, { logDir: ctx.logDir, label, env: env(ctx, target, extra), nodeArgs: ctx.nodeArgs[role] ?? [] });
  ctx.rss.track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(proc, `${url}/api/patients/jobs/1`);
  return Object.assign(proc, { url });
}

/** The real worker, as production runs it (`node dist/worker/main.js`). */
export async function startWorker(ctx: Ctx, role: 'worker', target: Target, label: string = role, moreEnv: Record<string, string> = {}, ready: RegExp = /worker started/): Promise<NodeProc> {
  const proc = spawnNode(role, { logDir: ctx.logDir, label, env: env(ctx, target, moreEnv), nodeArgs: ctx.nodeArgs[role] ?? [] });
  ctx.rss.track(proc);
  await waitForLog(proc, ready);
  return proc;
}

export type BenchQueue = Queue<PatientJobData, PatientJobResult>;

export function openQueue(ctx: Ctx, name: string): BenchQueue {
  const queue = new Queue<PatientJobData, PatientJobResult>(name, { connection: ctx.redis, prefix: 'bull' });
  queue.on('error', () => {});
  return queue;
}

/** Jobs not yet done: waiting, paused, running, delayed (retries) or prioritized. */
export async function queueDepth(queue: BenchQueue): Promise<{ pending: number; failed: number }> {
  const c = await queue.getJobCounts('wait', 'paused', 'active', 'delayed', 'prioritized', 'failed');
  const pending = (c.wait ?? 0) + (c.paused ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
  return { pending, failed: c.failed ?? 0 };
}

/** Polls until nothing is pending or the timeout passes; returns the seconds waited and whether done. */
export async function waitDrained(queue: BenchQueue, timeoutS: number, onPoll?: (pending: number) => void, pollMs = 100): Promise<{ done: boolean; seconds: number; failed: number }> {
  const t0 = performance.now();
  for (;;) {
    const { pending, failed } = await queueDepth(queue);
    onPoll?.(pending);
    const seconds = (performance.now() - t0) / 1000;
    if (pending === 0) return { done: true, seconds, failed };
    if (seconds > timeoutS) return { done: false, seconds, failed };
    await sleep(pollMs);
  }
}

export function createHarnessRedis(url: string): Redis {
  const redis = createRedis(url, 'worker');
  redis.on('error', () => {});
  return redis;
}

export function createHarnessMongo(url: string): MongoClient {
  return new MongoClient(url, { serverSelectionTimeoutMS: 10_000, maxPoolSize: 10 });
}

export async function flushRedis(ctx: Ctx): Promise<void> {
  await ctx.redis.flushall();
}

export async function dropDb(ctx: Ctx, name: string): Promise<void> {
  if (ctx.dropDatabases) await ctx.mongo.db(name).dropDatabase().catch(() => {});
}
