import { z } from 'zod';
import { intakeShape } from './config-intake.ts';
import { scaleIssues, scaleShape } from './config-scale.ts';
import { TracingSchema, tracingShape, type TracingConfig } from './config-tracing.ts';
import { apiKeys, bool, centerClusters, int, mongoTls, mongoUrlOptionIssues, timeZone, trustProxy, url } from './config-values.ts';

// The one place that knows the environment variables. Entry points call loadConfig(process.env)
// once and pass the result down; nothing else reads process.env.

export { tracingEnabled, type TracingConfig } from './config-tracing.ts';
export { ApiKeySchema, isLoopback, type ApiKey, type Scope } from './config-values.ts';

export const ConfigSchema = z.object({
  // `production` (the image sets it): TLS to Redis and MongoDB, no development mode.
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  // Only where the datastores sit on a network nobody else reaches (docker-compose.yml's own network).
  ALLOW_PLAINTEXT_DATASTORES: bool.default(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REDIS_URL: url(['redis:', 'rediss:']),
  // Not `new URL()`: a replica-set URL lists several hosts (mongodb://a:27017,b:27017/?replicaSet=rs0).
  MONGO_URL: z.string()
    .regex(/^mongodb(\+srv)?:\/\/[^\s/]+/, 'must be a URL with scheme mongodb: or mongodb+srv:')
    .refine((url) => mongoTls(url) !== undefined, 'is not a connection string the MongoDB driver accepts'),
  MONGO_DB: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be a MongoDB database name').default('hemo'),
  // Durable by default; FerretDB accepts and ignores it. w:0 is refused: the driver then reports
  // every write as done, so duplicates go unseen and newer versions of known patients are dropped.
  MONGO_WRITE_CONCERN: z
    .union([z.literal('majority'), z.coerce.number().int().min(1, 'must be majority or 1-50 (0 would not acknowledge writes)').max(50)], {
      error: 'must be majority or a number of members 1-50',
    })
    .default('majority'),
  // How long a write waits for its write concern (majority) before it fails retryable, "applied, not
  // yet durable". Below half of WORKER_WRITE_LOCK_MS, so a write waiting for it never outlives a patient's lock.
  MONGO_WTIMEOUT_MS: int(100, 300_000).default(5000),
  MONGO_JOURNAL: bool.default(true),
  // Per process: 4 suits the 2-core embedded server (src/worker/README.md); ~2x WORKER_CONCURRENCY on MongoDB.
  MONGO_POOL_SIZE: int(1, 500).default(4),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ and - only').default('patients'),
  QUEUE_PREFIX: z.string().min(1).max(100).default('bull'),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: int(0, 65535).default(3000),
  API_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  // A 202 must come quickly or not at all: an enqueue slower than this answers 503.
  API_ENQUEUE_TIMEOUT_MS: int(50, 60_000).default(1500),
  API_BATCH_MAX: int(1, 100_000).default(1000),
  // A queue job carries a batch of records (coalesced single requests, or a batch request split up):
  // at most this many, and about this many bytes of them (Redis values, worker memory per job).
  JOB_MAX_RECORDS: int(1, 10_000).default(500),
  JOB_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  // Who may call /api. Without keys the API refuses to start unless AUTH_DEV_MODE=true.
  API_KEYS: apiKeys.default([]),
  AUTH_DEV_MODE: bool.default(false),
  // Which cluster each center belongs to: a key's `clusters` reach exactly the centers mapped to them.
  CENTER_CLUSTERS: centerClusters.default(new Map()),
  // Failed authentications per client address and window before that address gets 429 for the rest of it.
  AUTH_FAIL_MAX: int(1, 1_000_000).default(20),
  AUTH_FAIL_WINDOW_MS: int(1000, 86_400_000).default(300_000),
  // Proxies whose X-Forwarded-For is believed for the client address (audit, logs, the bad-key limit).
  API_TRUST_PROXY: trustProxy,
  // Slow clients: a request must arrive whole within API_REQUEST_TIMEOUT_MS; an idle connection closes.
  API_REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  API_CONNECTION_TIMEOUT_MS: int(1000, 600_000).default(60_000),
  API_KEEP_ALIVE_TIMEOUT_MS: int(1000, 600_000).default(5000),
  API_MAX_CONNECTIONS: int(1, 1_000_000).default(1024),
  // Event-loop backpressure: while the loop lags more than this, requests get 503 + Retry-After.
  API_MAX_EVENT_LOOP_DELAY_MS: int(10, 600_000).default(1000),
  RATE_LIMIT_MAX: int(1, 10_000_000).default(6000),
  RATE_LIMIT_WINDOW_MS: int(1000, 3_600_000).default(60_000),
  // Backpressure: above this many waiting records, POST answers 503 + Retry-After before enqueueing.
  QUEUE_MAX_WAITING: int(1, 100_000_000).default(200_000),
  // ...and above this share of Redis' maxmemory: the workers need the rest to drain the queue.
  QUEUE_MAX_MEMORY_PERCENT: int(1, 100).default(80),
  // How old the shared reading of queue depth and Redis memory may be (one read serves every request meanwhile).
  QUEUE_DEPTH_REFRESH_MS: int(0, 60_000).default(250),
  // Upper bound for `Prefer: wait=N`: a synchronous client never holds a connection longer.
  API_WAIT_MAX_S: int(0, 120).default(30),
  // Batch jobs at once per worker process (each up to JOB_MAX_RECORDS records, written as one group).
  WORKER_CONCURRENCY: int(1, 1000).default(8),
  // The worker's own small HTTP port: /health/live, /health/ready, /metrics (0 = any free port).
  WORKER_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_HTTP_PORT: int(0, 65535).default(3001),
  JOB_ATTEMPTS: int(1, 100).default(10),
  JOB_BACKOFF_MS: int(10, 600_000).default(1000),
  JOB_KEEP_COMPLETED: int(0, 10_000_000).default(10_000),
  JOB_KEEP_FAILED: int(0, 10_000_000).default(100_000),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  PATIENT_TIME_ZONE: timeZone.default('Asia/Bangkok'),
  PATIENT_STRING_MAX: int(1, 100_000).default(255),
  // Worker robustness (src/worker/README.md). A job whose worker died is handed to another one
  // once its lock (WORKER_LOCK_MS) has expired, found by a check every WORKER_STALLED_INTERVAL_MS.
  WORKER_LOCK_MS: int(1000, 600_000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: int(500, 600_000).default(30_000),
  WORKER_MAX_STALLED_COUNT: int(1, 1_000_000).default(50),
  // Per-patient write lock in Redis (TTL): must outlast the slowest write (> MONGO_TIMEOUT_MS).
  WORKER_WRITE_LOCK_MS: int(500, 600_000).default(30_000),
  // How often the worker dead-letters jobs that failed outside its processor (e.g. stalled too often).
  DEAD_LETTER_SWEEP_MS: int(1000, 86_400_000).default(60_000),
  // Completed jobs hold the record in Redis: keep them only as long as a client polls its status.
  JOB_KEEP_COMPLETED_AGE_S: int(1, 365 * 86_400).default(3600),
  JOB_KEEP_FAILED_AGE_S: int(1, 365 * 86_400).default(30 * 86_400),
  // Server selection / connect timeout: how long a write waits for an unreachable MongoDB.
  MONGO_TIMEOUT_MS: int(100, 120_000).default(5000),
  // Audit entries older than this many days are removed by a TTL index (MongoDB); 0 keeps them.
  AUDIT_RETENTION_DAYS: int(0, 36_500).default(0),
  ...intakeShape,
  ...tracingShape,
  ...scaleShape,
}).superRefine((c, ctx) => {
  for (const message of mongoUrlOptionIssues(c.MONGO_URL, c.NODE_ENV === 'production')) ctx.addIssue({ code: 'custom', path: ['MONGO_URL'], message });
  if (c.NODE_ENV !== 'production' || c.ALLOW_PLAINTEXT_DATASTORES) return; // no records in clear text in production:
  if (!c.REDIS_URL.startsWith('rediss:')) ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'must be rediss:// (TLS) when NODE_ENV=production' });
  if (mongoTls(c.MONGO_URL) === false) ctx.addIssue({ code: 'custom', path: ['MONGO_URL'], message: 'must use TLS (tls=true or mongodb+srv://) when NODE_ENV=production' });
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Parses the environment; throws ConfigError naming every bad variable (never its value). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  return parseEnv(
    ConfigSchema.superRefine((c, ctx) => {
      scaleIssues(c, ctx);
      if (c.MONGO_WTIMEOUT_MS * 2 >= c.WORKER_WRITE_LOCK_MS) {
        ctx.addIssue({ code: 'custom', path: ['MONGO_WTIMEOUT_MS'], message: 'must be below half of WORKER_WRITE_LOCK_MS' });
      }
    }),
    env,
  );
}

/** The tracing switch alone, read before anything else is loaded (src/shared/tracing/tracing.ts); same errors as loadConfig. */
export function loadTracingConfig(env: Record<string, string | undefined>): TracingConfig {
  return parseEnv(TracingSchema, env);
}

function parseEnv<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const known = Object.fromEntries(Object.keys(schema.shape).map((key) => [key, env[key] === '' ? undefined : env[key]]));
  const result = schema.safeParse(known);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const problem = issue.code === 'invalid_type' && known[name] === undefined ? 'is required' : issue.message;
    return `${name} ${problem}`;
  });
  throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
}
