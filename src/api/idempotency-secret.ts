import { randomBytes } from 'node:crypto';
import type { Config } from '../shared/config/config.ts';

// The key of the HMAC the idempotency store keeps of each body (intake/idempotency.ts), so that
// what Redis holds for API_IDEMPOTENCY_TTL_S is no plain SHA-256 anyone can test a guessed record
// against (issue 22). Replays work across API replicas through Redis, so every replica needs the
// same key: configured, and required in production.

/** Why the API must not start (exit 2), or undefined. */
export function idempotencySecretProblem(config: Config): string | undefined {
  if (config.NODE_ENV !== 'production' || config.API_IDEMPOTENCY_SECRET) return undefined;
  return 'API_IDEMPOTENCY_SECRET is required when NODE_ENV=production (the same 32+ random characters on every API replica: openssl rand -base64 32)';
}

let perProcess: Buffer | undefined;

/**
 * The configured key; unset (development, tests), one random key per process: an Idempotency-Key
 * then replays only against the process that took the first request (another answers 422).
 */
export function idempotencySecret(config: Config): Buffer {
  if (config.API_IDEMPOTENCY_SECRET) return Buffer.from(config.API_IDEMPOTENCY_SECRET, 'utf8');
  return (perProcess ??= randomBytes(32));
}
