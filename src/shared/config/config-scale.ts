import { z } from 'zod';
import { int } from './config-values.ts';
import { parsePartitionList } from '../partitions.ts';

// Scaling the queue tier past one Redis (issue 11): queue partitions, which of them a worker takes,
// a Redis Cluster, and how many replicas must have a job before its 202.
const hostPorts = z.string().transform((text, ctx) => {
  const nodes = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (nodes.every((n) => /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(n) && Number(n.split(':')[1]) <= 65535)) return nodes;
  ctx.issues.push({ code: 'custom', message: 'must be a comma-separated list of host:port', input: undefined });
  return z.NEVER;
});

export const scaleShape = {
  // Queue partitions (src/shared/partitions.ts): each its own BullMQ queue `{QUEUE_NAME-p}`; 1 keeps QUEUE_NAME.
  QUEUE_PARTITIONS: int(1, 1024).default(1),
  // The partitions this worker process takes: `all`, or a list/ranges such as 0,2-3 (checked against QUEUE_PARTITIONS).
  WORKER_PARTITIONS: z.string().regex(/^(all|\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*)$/, 'must be all, or partitions and ranges such as 0,2-3').default('all'),
  // A Redis Cluster's seed nodes (host:port,...): then every client is a cluster client. REDIS_URL's
  // scheme (rediss = TLS), user and password apply to every node; its host is one more seed.
  REDIS_CLUSTER_NODES: hostPorts.default([]),
  // Durability on failover: a 202 only once WAIT confirms the job reached this many replicas (0: no WAIT).
  REDIS_WAIT_REPLICAS: int(0, 16).default(0),
  // How long WAIT may take; fewer replicas by then answers 503 (the job may still run: retry with the same Idempotency-Key).
  REDIS_WAIT_TIMEOUT_MS: int(10, 60_000).default(500),
};

type ScaleConfig = { QUEUE_PREFIX: string; QUEUE_PARTITIONS: number; WORKER_PARTITIONS: string; REDIS_CLUSTER_NODES: string[] };

/** The rules between these variables (and QUEUE_PREFIX), for loadConfig's refinement. */
export function scaleIssues(c: ScaleConfig, ctx: z.RefinementCtx): void {
  // The queue names carry the hash tags on a cluster; a tag in the prefix would win and put every partition in one slot.
  if (c.REDIS_CLUSTER_NODES.length > 0 && c.QUEUE_PREFIX.includes('{')) ctx.addIssue({ code: 'custom', path: ['QUEUE_PREFIX'], message: 'must not contain a hash tag with REDIS_CLUSTER_NODES (the queue names carry one per partition)' });
  const partitions = parsePartitionList(c.WORKER_PARTITIONS, c.QUEUE_PARTITIONS);
  if (typeof partitions === 'string') ctx.addIssue({ code: 'custom', path: ['WORKER_PARTITIONS'], message: partitions });
}
