// Per cluster-test file: a real local Redis Cluster (3 masters, 3 replicas), the API and worker as
// processes on it (REDIS_CLUSTER_NODES), and what the tests read from the cluster itself: which
// master owns which slots, which partitions' keys each master holds.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { inject } from 'vitest';
import { freePort, redisCluster, type RedisCluster } from './local-servers.ts';
import { loadConfig, type Config } from '../../src/shared/config/config.ts';
import { createStore, type Store } from '../../src/shared/mongo.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../../src/shared/queue.ts';
import { createRedis, readyOrTimeout, type RedisClient } from '../../src/shared/redis.ts';
import { keySlot } from '../../src/shared/replica-wait.ts';
import { startRedisLinkProxy, type RedisLinkProxy } from './fault-proxy.ts';
import { startProcess, waitForOutput, type Proc } from './processes.ts';

export type ClusterNode = { id: string; port: number; role: 'master' | 'replica'; masterId: string | null; slots: [number, number][]; failed: boolean };

/** CLUSTER NODES as one live node sees it; `realPort` turns an announced port into the node's own. */
export function clusterNodes(port: number, realPort: (announced: number) => number = (p) => p): ClusterNode[] {
  const text = execFileSync('redis-cli', ['-p', String(port), 'cluster', 'nodes'], { timeout: 5000 }).toString();
  return text.trim().split('\n').map((line) => {
    const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
    return {
      id: id!, port: realPort(Number(/:(\d+)@/.exec(addr!)?.[1])),
      role: flags!.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? null : master!,
      failed: flags!.includes('fail'),
      slots: slots.filter((s) => /^\d+(-\d+)?$/.test(s)).map((s) => { const [a, b] = s.split('-'); return [Number(a), Number(b ?? a)] as [number, number]; }),
    };
  });
}

export const ownerOf = (nodes: ClusterNode[], slot: number) => nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));

/** A queue name whose `partitions` partitions land on every master (slots decide; with 8 on 3 masters one can miss out). */
export function spreadingQueueName(nodes: ClusterNode[], prefix: string, partitions: number): string {
  const masters = nodes.filter((n) => n.role === 'master').length;
  for (;;) {
    const name = `c-${randomBytes(4).toString('hex')}`;
    const owners = new Set(Array.from({ length: partitions }, (_, p) => ownerOf(nodes, keySlot(`${prefix}:{${name}-${p}}:id`))?.port));
    if (owners.size === masters) return name;
  }
}

export type ClusterEnv = Awaited<ReturnType<typeof createClusterEnv>>;

/**
 * `linkProxies`: every node announces the port of a proxy in front of it (startRedisLinkProxy), so a
 * test can hold back what a master streams to its replica: a lagging replica, as asynchronous
 * replication has when a master fails.
 */
export async function createClusterEnv(partitions: number, env: Record<string, string> = {}, opts: { linkProxies?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hemo-cluster-'));
  const proxies = new Map<number, RedisLinkProxy>(); // by the node's own port
  const realOf = new Map<number, number>();
  const announcePort = opts.linkProxies
    ? async (port: number) => {
        const proxy = await startRedisLinkProxy(port);
        proxies.set(port, proxy);
        realOf.set(proxy.port, port);
        return proxy.port;
      }
    : undefined;
  const cluster: RedisCluster = await redisCluster({ dataDir: dir, nodeTimeoutMs: 1500, announcePort }).catch(async (err: unknown) => {
    await Promise.all([...proxies.values()].map((p) => p.close()));
    throw err;
  });
  const realPort = (announced: number) => realOf.get(announced) ?? announced;
  const nodesSeenBy = (port: number) => clusterNodes(port, realPort);
  const name = spreadingQueueName(nodesSeenBy(cluster.nodes[0]!.port), 'bull', partitions);
  // The seeds are the addresses the nodes announce: ioredis drops a seed that CLUSTER SLOTS does not name.
  const seeds = cluster.nodes.map((n) => `127.0.0.1:${proxies.get(n.port)?.port ?? n.port}`);
  const base: Record<string, string> = {
    REDIS_URL: `redis://${seeds[0]}`,
    REDIS_CLUSTER_NODES: seeds.join(','),
    MONGO_URL: inject('mongoUrl'),
    MONGO_DB: `c_${name.slice(2)}`,
    QUEUE_NAME: name,
    QUEUE_PARTITIONS: String(partitions),
    LOG_LEVEL: 'warn',
    JOB_BACKOFF_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...env,
  };
  const config: Config = loadConfig(base);
  const redis: RedisClient = createRedis(config.REDIS_URL, 'worker', config.REDIS_CLUSTER_NODES);
  redis.on('error', () => {});
  await readyOrTimeout(redis, 10_000);
  const settings = queueSettings(config);
  const queues = settings.names.map((n) => new Queue<PatientJobData, PatientJobResult>(n, { connection: redis, prefix: settings.prefix }));
  for (const q of queues) q.on('error', () => {});
  const store: Store = createStore(config);
  const procs: Proc[] = [];
  const start = (proc: Proc) => (procs.push(proc), proc);

  return {
    cluster, config, queues, store, processEnv: base,
    /** CLUSTER NODES as the node on `port` sees it, with the nodes' own ports. */
    nodesSeenBy,
    /** The proxy in front of a node (by its own port), with linkProxies. */
    proxyOf: (port: number) => proxies.get(port),
    /** The API as a process on the cluster; resolves with its base URL once it listens. */
    async startApi(extra: Record<string, string> = {}): Promise<{ proc: Proc; base: string }> {
      const port = await freePort();
      const proc = start(startProcess('api', { ...base, AUTH_DEV_MODE: 'true', API_PORT: String(port), RATE_LIMIT_MAX: '10000000', QUEUE_MAX_WAITING: '10000000', LOG_LEVEL: 'info', ...extra }));
      await waitForOutput(proc, /Server listening/, 60_000);
      return { proc, base: `http://127.0.0.1:${port}` };
    },
    async startWorker(extra: Record<string, string> = {}): Promise<Proc> {
      const proc = start(startProcess('worker', { ...base, LOG_LEVEL: 'info', ...extra }));
      await waitForOutput(proc, /worker started/, 60_000);
      return proc;
    },
    /** A replica's link to its master is up (it has synced). */
    replicaLinkUp: (port: number) => /master_link_status:up/.test(execFileSync('redis-cli', ['-p', String(port), 'info', 'replication'], { timeout: 5000 }).toString()),
    /** Jobs not yet finished, all partitions together. */
    async pending(): Promise<number> {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused')));
      return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
    },
    /** Which partitions have keys on which master (SCAN of each master's own keyspace). */
    partitionsByMaster(): Map<number, Set<number>> {
      const live = cluster.nodes.find((n) => { try { nodesSeenBy(n.port); return true; } catch { return false; } })!;
      const byMaster = new Map<number, Set<number>>();
      for (const m of nodesSeenBy(live.port).filter((n) => n.role === 'master' && !n.failed)) {
        const keys = execFileSync('redis-cli', ['-p', String(m.port), '--scan', '--pattern', `bull:{${name}-*}:*`], { timeout: 10_000 }).toString().split('\n').filter(Boolean);
        byMaster.set(m.port, new Set(keys.map((k) => Number(new RegExp(`\\{${name}-(\\d+)\\}`).exec(k)?.[1]))));
      }
      return byMaster;
    },
    async close() {
      for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.exited));
      await Promise.all(queues.map((q) => q.close().catch(() => {})));
      redis.disconnect();
      await store.db.dropDatabase().catch(() => {});
      await store.close();
      await cluster.stop();
      await Promise.all([...proxies.values()].map((p) => p.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
