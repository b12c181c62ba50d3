import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKey, Config, Scope } from '../shared/config.ts';
import { AppError } from '../shared/errors.ts';
import { tenantAllows, type Tenant } from '../shared/queue.ts';

// API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Only SHA-256 digests are
// configured. The presented key is hashed and compared with EVERY configured digest using
// timingSafeEqual on fixed-length (32-byte) buffers, without early exit, so neither the position
// of a match nor the key's length shows in the timing.

export type Client = {
  id: string;
  scopes: ReadonlySet<Scope>;
  /** Centers and clusters this key may write and read; `all` in development mode. */
  centers: ReadonlySet<number> | 'all';
  clusters: ReadonlySet<number>;
};

export class AuthError extends AppError {}

const DEV_CLIENT: Client = { id: 'dev', scopes: new Set(['patients:write', 'patients:read', 'admin']), centers: 'all', clusters: new Set() };

/** The API refuses to start without keys unless development mode is explicit. */
export function authProblem(config: Config): string | undefined {
  if (config.API_KEYS.length === 0 && !config.AUTH_DEV_MODE) {
    return 'API_KEYS is required (a JSON array of key hashes; see scripts/api-key.ts) unless AUTH_DEV_MODE=true';
  }
  return undefined;
}

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export function createAuthenticator(config: Config) {
  const keys = config.API_KEYS.map((key: ApiKey) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    client: { id: key.id, scopes: new Set(key.scopes), centers: new Set(key.centers), clusters: new Set(key.clusters) } satisfies Client,
  }));
  const devMode = config.AUTH_DEV_MODE && keys.length === 0;

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
    if (devMode) {
      request.client = DEV_CLIENT;
      return;
    }
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : undefined;
    const apiKey = request.headers['x-api-key'];
    const presented = bearer ?? (typeof apiKey === 'string' ? apiKey.trim() : undefined);
    const client = presented ? identify(presented) : undefined;
    if (!client) {
      reply.header('www-authenticate', 'Bearer');
      throw new AuthError('UNAUTHORIZED', 401, presented ? 'the API key is not valid' : 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    }
    request.client = client;
  };
}

/** `admin` includes every other scope. */
export function requireScope(request: FastifyRequest, ...anyOf: Scope[]): void {
  const { scopes } = request.client;
  if (!scopes.has('admin') && !anyOf.some((scope) => scopes.has(scope))) {
    throw new AuthError('FORBIDDEN_SCOPE', 403, `this API key lacks the scope ${anyOf.join(' or ')}`);
  }
}

/** Tenancy comes from the credential: a key sees and writes only its centers (or clusters). */
export function mayAccess(client: Client, record: { center_id: number | null; cluster_id: number | null }): boolean {
  return tenantAllows(tenantOf(client), record);
}

/** What goes into the job for the worker's check of the stored record; none for dev mode and admins. */
export function tenantOf(client: Client): Tenant | undefined {
  if (client.centers === 'all' || client.scopes.has('admin')) return undefined;
  return { centers: [...client.centers], clusters: [...client.clusters] };
}

export const forbiddenTenant = () => new AuthError('FORBIDDEN_TENANT', 403, 'this API key may not write patients of this center');
