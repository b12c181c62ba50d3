import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isLoopback, type ApiKey, type Config, type Scope } from '../shared/config/config.ts';
import { AppError } from '../shared/errors.ts';
import type { Tenant } from '../shared/queue.ts';
import type { BadKeyLimit } from './bad-key-limit.ts';

// API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Only SHA-256 digests are
// configured. The presented key is hashed and compared with EVERY configured digest using
// timingSafeEqual on fixed-length (32-byte) buffers, without early exit, so neither the position
// of a match nor the key's length shows in the timing.

export type Client = {
  id: string;
  scopes: ReadonlySet<Scope>;
  /**
   * The centers this key may write and read: its own `centers` plus every center that
   * CENTER_CLUSTERS maps to one of its `clusters`; `all` in development mode. A record's own
   * cluster_id never grants anything.
   */
  centers: ReadonlySet<number> | 'all';
};

export class AuthError extends AppError {}

const DEV_CLIENT: Client = { id: 'dev', scopes: new Set(['patients:write', 'patients:read', 'ops', 'admin']), centers: 'all' };

export const devMode = (config: Config) => config.AUTH_DEV_MODE && config.API_KEYS.length === 0;

/** Why the API must not start with this configuration (exit code 2), or undefined. */
export function authProblem(config: Config): string | undefined {
  if (config.API_KEYS.length === 0 && !config.AUTH_DEV_MODE) {
    return 'API_KEYS is required (a JSON array of key hashes; see scripts/api-key.ts) unless AUTH_DEV_MODE=true';
  }
  // Development mode lets anyone in as admin: only on a developer's own machine.
  if (devMode(config) && config.NODE_ENV === 'production') return 'AUTH_DEV_MODE=true is refused when NODE_ENV=production; configure API_KEYS';
  if (devMode(config) && !isLoopback(config.API_HOST)) return 'AUTH_DEV_MODE=true is refused unless API_HOST is a loopback address (127.0.0.1, ::1, localhost); configure API_KEYS';
  return undefined;
}

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** The key's centers plus the centers configured (CENTER_CLUSTERS) for its clusters. */
export function centersOf(key: Pick<ApiKey, 'centers' | 'clusters'>, centerClusters: ReadonlyMap<number, number>): Set<number> {
  const centers = new Set(key.centers);
  for (const [center, cluster] of centerClusters) if (key.clusters.includes(cluster)) centers.add(center);
  return centers;
}

export function createAuthenticator(config: Config, badKeys: BadKeyLimit) {
  const keys = config.API_KEYS.map((key: ApiKey) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    client: { id: key.id, scopes: new Set(key.scopes), centers: centersOf(key, config.CENTER_CLUSTERS) } satisfies Client,
  }));
  const dev = devMode(config);

  const identify = (presented: string): Client | undefined => {
    const digest = sha256(presented);
    let found: Client | undefined;
    for (const key of keys) {
      // No early exit: every digest is compared whatever the outcome.
      if (timingSafeEqual(digest, key.digest) && !found) found = key.client;
    }
    return found;
  };

  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (dev) {
      request.client = DEV_CLIENT;
      return;
    }
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : undefined;
    const apiKey = request.headers['x-api-key'];
    const presented = bearer ?? (typeof apiKey === 'string' ? apiKey.trim() : undefined);
    const client = presented ? identify(presented) : undefined;
    if (!client) {
      // Only failures are limited: a valid key from an address over the limit still gets in (bad-key-limit.ts).
      const wait = badKeys.failed(request.ip);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new AuthError('AUTH_RATE_LIMITED', 429, `too many failed authentications from this address; retry in ${wait} s`);
      }
      // The address, never the presented key: a key pasted into the wrong header is still a secret.
      request.log.warn({ clientAddress: request.ip, code: presented ? 'KEY_INVALID' : 'KEY_MISSING' }, 'authentication failed');
      reply.header('www-authenticate', 'Bearer');
      throw new AuthError('UNAUTHORIZED', 401, presented ? 'the API key is not valid' : 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    }
    request.client = client;
  };
}

/** `admin` includes every other scope; `ops` (dashboard, metrics) includes no patient access. */
export function requireScope(request: FastifyRequest, ...anyOf: Scope[]): void {
  const { scopes } = request.client;
  if (!scopes.has('admin') && !anyOf.some((scope) => scopes.has(scope))) {
    throw new AuthError('FORBIDDEN_SCOPE', 403, `this API key lacks the scope ${anyOf.join(' or ')}`);
  }
}

/** Tenancy comes from the credential: a key sees and writes only its centers. */
export function mayAccess(client: Client, record: { center_id: number | null }): boolean {
  if (client.centers === 'all' || client.scopes.has('admin')) return true;
  return record.center_id != null && client.centers.has(record.center_id);
}

/**
 * What goes into the job for the worker's check of the record's own center; none for dev mode and admins.
 * Clusters are already resolved to centers here, so the worker never grants by a record's cluster_id.
 */
export function tenantOf(client: Client): Tenant | undefined {
  if (client.centers === 'all' || client.scopes.has('admin')) return undefined;
  return { centers: [...client.centers], clusters: [] };
}

export const forbiddenTenant = () => new AuthError('FORBIDDEN_TENANT', 403, 'this API key may not write patients of this center');
