import { z } from 'zod';
import { int } from './config-values.ts';

// The intake's own rules and the idempotency store (src/api/intake/), spread into ConfigSchema.
export const intakeShape = {
  // A modify_time further ahead than this is refused: it would make every later update of the record
  // stale. Clock skew only: times without an offset are read in PATIENT_TIME_ZONE, not as UTC.
  PATIENT_MAX_FUTURE_S: int(0, 366 * 86_400).default(300),
  API_IDEMPOTENCY_TTL_S: int(1, 30 * 24 * 3600).default(24 * 3600),
  // The HMAC key of the idempotency store's body digests; the same on every API replica. Required by
  // the API when NODE_ENV=production (src/api/idempotency-secret.ts), random per process otherwise.
  API_IDEMPOTENCY_SECRET: z.string().regex(/^\S{32,1024}$/, 'must be 32-1024 characters without spaces (openssl rand -base64 32)').optional(),
};
