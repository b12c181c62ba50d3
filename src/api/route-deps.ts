import type { QueueEvents } from 'bullmq';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { Store } from '../shared/mongo.ts';
import type { Tracing } from '../shared/tracing/tracing.ts';
import type { PatientQueue } from '../shared/queue.ts';
import type { AccessAudit } from '../shared/access-audit.ts';
import type { Intake } from './intake/intake.ts';
import type { Receipts } from './intake/receipts.ts';
import type { ApiMetrics } from './metrics.ts';
import type { PatientSchema } from '../shared/patient/patient-schema.ts';

// The types the app and its route plugins share, in a file of their own so that neither imports
// the other.

export type AppDeps = {
  config: Config;
  logger: Logger;
  /** One queue per partition (index = partition; QUEUE_PARTITIONS). */
  queues: PatientQueue[];
  /** The producer's fail-fast connection (single node or cluster): idempotency keys, rate limits, readiness. */
  redis: RedisClient;
  /** Reads (GET /api/patients/{id}, the `Prefer: wait` answer), the access audit's inserts, dead letters (admin routes). */
  store: Pick<Store, 'patients' | 'db' | 'deadLetters'>;
  /** One per partition, needed for `Prefer: wait=N`; without them the API always answers 202. */
  queueEvents?: QueueEvents[];
  /** Set when tracing is on (src/shared/tracing/tracing.ts): names request spans, carries each record's trace context. */
  tracing?: Tracing;
};

/** What the route plugins get: the deps plus what buildApp derives from them. */
export type RouteDeps = AppDeps & {
  metrics: ApiMetrics;
  intake: Intake;
  accessAudit: AccessAudit;
  /** The patient contract as the intake applies it (intake-rules.ts), built once for every route. */
  intakeSchema: PatientSchema;
  /** Batch receipts (intake/receipts.ts): written by the batch route, read by the submissions route. */
  receipts: Receipts;
};
