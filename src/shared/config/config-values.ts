import { createRequire } from 'node:module';
import { z } from 'zod';
import { isTrustEntry } from '../trusted-proxy.ts';

// The value types of the configuration (config.ts): each parses one variable's text and names the
// rule it breaks, never the value (a key's hash or a URL with a password must not reach a log).

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL with scheme ${protocols.join(' or ')}`);

export const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Asia/Bangkok');

// `ops`: the dashboard and /metrics, no patient data. `admin` includes every other scope.
const SCOPES = ['patients:write', 'patients:read', 'ops', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const ApiKeySchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'id: letters, digits, . _ - only'),
  /** SHA-256 of the key, hex: the key itself is never configured (scripts/api-key.ts makes both). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256: 64 lowercase hex digits'),
  scopes: z.array(z.enum(SCOPES)).min(1),
  centers: z.array(z.int()).default([]),
  clusters: z.array(z.int()).default([]),
});
export type ApiKey = z.infer<typeof ApiKeySchema>;

/** JSON text holding `schema`; both failures say `shape`, never the text (it may hold secrets). */
const jsonText = <T extends z.ZodType>(shape: string, schema: (error: string) => T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: `must be ${shape}`, input: undefined });
        return z.NEVER;
      }
    })
    .pipe(schema(`must be ${shape}`));

export const apiKeys = jsonText('a JSON array of {id, sha256, scopes, centers?, clusters?}', (error) => z.array(ApiKeySchema, { error }))
  // Logs, rate limits and the audit go by id; two entries with one id (or one key twice) would blur them.
  .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, 'has two entries with the same id')
  .refine((keys) => new Set(keys.map((k) => k.sha256)).size === keys.length, 'has two entries with the same sha256');

// Options of MONGO_URL that would silently override what the configuration says of durability:
// the variable to use instead. The driver lets the URL win over the client options.
const URL_OVERRIDES: Record<string, [string, string]> = {
  w: ['w', 'MONGO_WRITE_CONCERN'],
  journal: ['journal', 'MONGO_JOURNAL'],
  j: ['j', 'MONGO_JOURNAL'],
  wtimeoutms: ['wtimeoutMS', 'MONGO_WTIMEOUT_MS'],
  wtimeout: ['wtimeout', 'MONGO_WTIMEOUT_MS'],
};
const TLS_UNCHECKED: Record<string, string> = { tlsinsecure: 'tlsInsecure', tlsallowinvalidcertificates: 'tlsAllowInvalidCertificates', tlsallowinvalidhostnames: 'tlsAllowInvalidHostnames' };

/** What MONGO_URL's query options must not say: each message names the option, never its value. */
export function mongoUrlOptionIssues(url: string, production: boolean): string[] {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const issues: string[] = [];
  for (const pair of query.split('&').filter(Boolean)) {
    const [rawName = '', rawValue = ''] = pair.split('=');
    const name = safeDecode(rawName).toLowerCase();
    const value = safeDecode(rawValue).toLowerCase();
    const override = URL_OVERRIDES[name];
    if (override) issues.push(`must not set ${override[0]} (it would override ${override[1]}; set that instead)`);
    if (name === 'retrywrites' && value === 'false') issues.push('must not set retryWrites=false (a write whose answer is lost could not be retried safely)');
    if (production && TLS_UNCHECKED[name] && value === 'true') issues.push(`must not set ${TLS_UNCHECKED[name]} when NODE_ENV=production (the server's certificate would go unchecked)`);
  }
  return issues;
}

const safeDecode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // the driver's parser (mongoTls) refuses it
  }
};

/** The MongoDB driver's own parser: what it refuses here would otherwise crash the process later. */
export function mongoTls(url: string): boolean | undefined {
  // Loaded on first use, not with this module: tracing must start before the driver loads (src/shared/tracing/tracing.ts).
  const { MongoClient } = createRequire(import.meta.url)('mongodb') as typeof import('mongodb');
  try {
    return new MongoClient(url).options.tls === true;
  } catch {
    return undefined;
  }
}

// {"<center id>": <cluster id>}: which cluster each center belongs to. Cluster keys reach centers only through it.
export const centerClusters = jsonText('a JSON object {"<center id>": <cluster id>}', (error) => z.record(z.string().regex(/^-?\d{1,10}$/, 'keys must be center ids'), z.int(), { error }))
  .transform((map) => new Map(Object.entries(map).map(([center, cluster]) => [Number(center), cluster])));

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\])$/;
export const isLoopback = (host: string) => LOOPBACK.test(host);

// API_TRUST_PROXY: false (default: the socket's address is the client), true (any), or the proxies' addresses/CIDRs.
// Read by config.ts and by the tracing switch (config-tracing.ts: whose traceparent is continued).
export const trustProxy = z.string().transform((text, ctx): boolean | string[] => {
  if (text === 'false') return false;
  if (text === 'true') return true;
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length > 0 && list.every(isTrustEntry)) return list;
  ctx.issues.push({ code: 'custom', message: 'must be false, true, or a comma-separated list of IP addresses/CIDRs', input: undefined });
  return z.NEVER;
}).default(false);
