// Scenario 6 (issue 11, not in the default run: `--only s6`): 1 vs 4 queue partitions, on the
// single Redis and on a local Redis Cluster (3 masters + 3 replicas, started here), and the cluster
// with REDIS_WAIT_REPLICAS=1. Per configuration: the real API takes one patient per request for a
// while (no worker: the intake alone), then one worker process (all partitions) drains what it took.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { redisCluster } from '../../test/support/local-servers.ts';
import { loadConfig } from '../../src/shared/config/config.ts';
import { queueSettings, type PatientJobData } from '../../src/shared/queue.ts';
import { createRedis, type RedisClient } from '../../src/shared/redis.ts';
import { startHttp, startWorker, type Ctx } from '../lib/context.ts';
import { runLoad } from '../lib/load.ts';
import { patientBody, takeIds } from '../lib/patients.ts';
import { median, round, say, sleep } from '../lib/util.ts';

export type PartitionConfig = { backend: 'single' | 'cluster'; partitions: number; waitReplicas: number };
export type PartitionRun = PartitionConfig & {
  round: number;
  intake: { rps: number; p50Ms: number; p99Ms: number; non2xx: number; statusCodes: Record<string, number>; apiCores: number | null };
  /** Records the worker stored from the intake's backlog (null: not drained in this configuration). */
  drain: { records: number; jobs: number; recordsPerJob: number; seconds: number; perS: number; complete: boolean } | null;
};
export type PartitionsResult = {
  connections: number;
  intakeS: number;
  drainMaxS: number;
  workerConcurrency: number;
  clusterNodes: number;
  runs: PartitionRun[];
  medians: Record<string, { intakeRps: number | null; drainPerS: number | null }>;
  ratios: { singleIntake: number | null; singleDrain: number | null; clusterIntake: number | null; clusterDrain: number | null; waitIntake: number | null };
};

const CONFIGS: PartitionConfig[] = [
  { backend: 'single', partitions: 1, waitReplicas: 0 },
  { backend: 'single', partitions: 4, waitReplicas: 0 },
  { backend: 'cluster', partitions: 1, waitReplicas: 0 },
  { backend: 'cluster', partitions: 4, waitReplicas: 0 },
  { backend: 'cluster', partitions: 4, waitReplicas: 1 },
];
export const configKey = (c: PartitionConfig) => `${c.backend}-${c.partitions}${c.waitReplicas ? `-wait${c.waitReplicas}` : ''}`;

async function pendingJobs(queues: Queue<PatientJobData>[]): Promise<number> {
  const counts = await Promise.all(queues.map((q) => q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused')));
  return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
}

export async function partitionsScenario(ctx: Ctx): Promise<PartitionsResult> {
  const p = ctx.params;
  const intakeS = p.mode === 'smoke' ? 1 : Math.max(p.intakeS, 10);
  const concurrency = 8;
  const dir = mkdtempSync(join(tmpdir(), 'hemo-bench-cluster-'));
  say('scenario 6: starting a local Redis Cluster (3 masters + 3 replicas)');
  const cluster = await redisCluster({ dataDir: dir, fsync: 'always' });
  const runs: PartitionRun[] = [];
  try {
    for (let r = 1; r <= p.rounds; r++) {
      for (const c of CONFIGS) {
        ctx.checkDeadline();
        const key = configKey(c);
        const target = { queue: `part-${key}-r${r}`, db: `bench_part_${key.replace(/-/g, '_')}_r${r}` };
        const redisEnv: Record<string, string> = c.backend === 'cluster' ? { REDIS_URL: cluster.url, REDIS_CLUSTER_NODES: cluster.seeds.join(',') } : {};
        const env = { ...redisEnv, QUEUE_PARTITIONS: String(c.partitions), REDIS_WAIT_REPLICAS: String(c.waitReplicas), RATE_LIMIT_MAX: '10000000', QUEUE_MAX_WAITING: '100000000' };
        const config = loadConfig({ REDIS_URL: ctx.redisUrl, MONGO_URL: ctx.mongoUrl, QUEUE_NAME: target.queue, ...env });
        const client: RedisClient = c.backend === 'cluster' ? createRedis(cluster.url, 'worker', cluster.seeds) : ctx.redis;
        client.on('error', () => {});
        const queues = queueSettings(config).names.map((n) => new Queue<PatientJobData>(n, { connection: client, prefix: 'bull' }));
        for (const q of queues) q.on('error', () => {});
        try {
          const api = await startHttp(ctx, 'api', target, `api-s6-${key}-r${r}`, env);
          const first = takeIds(10_000_000);
          say(`scenario 6 round ${r}/${p.rounds}: ${key}: intake for ${intakeS} s`);
          const load = await runLoad({ label: `s6 ${key}`, url: `${api.url}/api/patients`, connections: p.connections, durationS: intakeS, serverPid: api.pid, body: (i) => patientBody(first + i) });
          await api.stop();
          const intake = { rps: round(load.rps, 1)!, p50Ms: load.latencyMs.p50, p99Ms: load.latencyMs.p99, non2xx: load.non2xx, statusCodes: load.statusCodes, apiCores: round(load.serverCores, 2) };
          let drain: PartitionRun['drain'] = null;
          if (c.waitReplicas === 0) {
            const records = load.ok;
            const worker = await startWorker(ctx, 'worker', target, `worker-s6-${key}-r${r}`, { ...env, WORKER_CONCURRENCY: String(concurrency) }, /taking jobs/);
            const t0 = performance.now();
            let pending = await pendingJobs(queues);
            while (pending > 0 && (performance.now() - t0) / 1000 < p.drainMaxS * 4) {
              await sleep(100);
              pending = await pendingJobs(queues);
            }
            const seconds = (performance.now() - t0) / 1000;
            await worker.stop();
            const stored = await ctx.mongo.db(target.db).collection('patients').countDocuments({}, { timeoutMS: 60_000 });
            // BullMQ's id counter per queue: how many jobs the API's coalescing made of the records.
            const jobs = (await Promise.all(queues.map(async (q) => Number((await (await q.client).get(q.toKey('id'))) ?? 0)))).reduce((a, b) => a + b, 0);
            // `records` misses the answers in flight when the load stopped: those are stored too.
            drain = { records: stored, jobs, recordsPerJob: round(stored / Math.max(jobs, 1), 1)!, seconds: round(seconds, 2)!, perS: round(stored / seconds, 1)!, complete: pending === 0 && stored >= records };
          }
          runs.push({ ...c, round: r, intake, drain });
          say(`  ${key}: intake ${intake.rps} req/s (p99 ${intake.p99Ms} ms, non-2xx ${intake.non2xx})${drain ? `, drain ${drain.records} records (${drain.jobs} jobs) in ${drain.seconds} s = ${drain.perS}/s${drain.complete ? '' : ' (NOT drained within the limit)'}` : ''}`);
        } finally {
          await Promise.all(queues.map((q) => q.close().catch(() => {})));
          if (client !== ctx.redis) client.disconnect();
        }
      }
    }
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const medians: PartitionsResult['medians'] = {};
  for (const c of CONFIGS) {
    const mine = runs.filter((x) => configKey(x) === configKey(c));
    medians[configKey(c)] = { intakeRps: median(mine.map((x) => x.intake.rps)), drainPerS: median(mine.flatMap((x) => (x.drain ? [x.drain.perS] : []))) };
  }
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? round(a / b, 3) : null);
  return {
    connections: p.connections, intakeS, drainMaxS: p.drainMaxS * 4, workerConcurrency: concurrency, clusterNodes: cluster.nodes.length, runs, medians,
    ratios: {
      singleIntake: ratio(medians['single-4']?.intakeRps, medians['single-1']?.intakeRps),
      singleDrain: ratio(medians['single-4']?.drainPerS, medians['single-1']?.drainPerS),
      clusterIntake: ratio(medians['cluster-4']?.intakeRps, medians['cluster-1']?.intakeRps),
      clusterDrain: ratio(medians['cluster-4']?.drainPerS, medians['cluster-1']?.drainPerS),
      waitIntake: ratio(medians['cluster-4-wait1']?.intakeRps, medians['cluster-4']?.intakeRps),
    },
  };
}
