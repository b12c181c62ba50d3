import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A single Redis (also TLS) or a Redis Cluster: BullMQ and our own keys work with either. */
export type RedisClient = Redis | Cluster;

const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/**
 * The API's producer fails fast (no offline queue, one retry) so a dead Redis turns into a quick
 * 503 instead of a hanging request; the worker waits forever (BullMQ requires
 * maxRetriesPerRequest: null for blocking commands) and resumes by itself when Redis returns.
 * With `clusterNodes`, a Cluster client seeded with them and REDIS_URL's host; REDIS_URL's scheme
 * (rediss = TLS), user and password apply to every node.
 */
export function createRedis(url: string, role: 'producer' | 'worker'): Redis;
export function createRedis(url: string, role: 'producer' | 'worker', clusterNodes: readonly string[]): RedisClient;
export function createRedis(url: string, role: 'producer' | 'worker', clusterNodes: readonly string[] = []): RedisClient {
  const common: RedisOptions = { connectionName: `hemo-${role}`, retryStrategy: backoff, lazyConnect: false };
  const options: RedisOptions =
    role === 'producer'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }
      : { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
  if (clusterNodes.length === 0) return new Redis(url, options);
  const u = new URL(url);
  const seeds = [`${u.hostname}:${u.port || '6379'}`, ...clusterNodes].map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) }));
  const { enableOfflineQueue, retryStrategy: _nodeRetry, ...nodeOptions } = options;
  const cluster: ClusterOptions = {
    redisOptions: {
      ...nodeOptions,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    },
    enableOfflineQueue: enableOfflineQueue ?? true,
    enableReadyCheck: true,
    clusterRetryStrategy: backoff,
    // A failover takes the cluster's node timeout plus an election: retry moved slots meanwhile.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: 2000,
  };
  return new Cluster(seeds, cluster);
}

/** The client a configuration asks for (cluster or single node). */
export const redisFor = (config: { REDIS_URL: string; REDIS_CLUSTER_NODES: readonly string[] }, role: 'producer' | 'worker'): RedisClient =>
  createRedis(config.REDIS_URL, role, config.REDIS_CLUSTER_NODES);

/**
 * Resolves when the connection is ready, or after `ms` anyway: a producer that starts while Redis
 * is down still starts (and answers 503) instead of failing its first requests needlessly.
 */
export function readyOrTimeout(redis: RedisClient, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
