// The API refuses anonymous callers (API_KEYS, src/api/auth.ts): the harness makes one key per run,
// as scripts/api-key.ts does (only its SHA-256 goes into the config), for the seed's center and
// cluster. Reference servers ignore the header.
import { createHash, randomBytes } from 'node:crypto';
import { SEED } from './patients.ts';

const key = `hk_${randomBytes(32).toString('base64url')}`;

const entry = {
  id: 'bench',
  sha256: createHash('sha256').update(key).digest('hex'),
  scopes: ['patients:write', 'patients:read'],
  centers: [Number(SEED.center_id)],
  clusters: [Number(SEED.cluster_id)],
};

export const AUTH_HEADERS: Record<string, string> = { authorization: `Bearer ${key}` };

/**
 * Env for the API process. The per-key rate limit and the queue-depth backpressure stay on (their
 * Redis calls are part of the cost measured) but with limits this load never reaches: the
 * benchmark measures throughput, not the limiter. Older APIs ignore variables they do not know.
 */
export const API_AUTH_ENV: Record<string, string> = {
  API_KEYS: JSON.stringify([entry]),
  RATE_LIMIT_MAX: '10000000',
  QUEUE_MAX_WAITING: '100000000',
};
