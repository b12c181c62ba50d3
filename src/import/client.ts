// The API as the import command uses it: POST /api/patients/batch and GET of status URLs, with
// retries. 429 and 503 wait for Retry-After; network errors and other 5xx back off exponentially
// with jitter; a batch is retried until it has been failing for `retryForMs`. An answer with
// per-item results (202, or 400 when no item was valid) is final: that batch is never sent again.
import type { FieldIssue } from '../shared/patient/patient-schema.ts';
import { ImportError } from './errors.ts';
import { createHttp, type HttpAnswer, type HttpRequest } from './http.ts';

export type ItemResult = { index: number; jobId: string; statusUrl: string } | { index: number; errors: FieldIssue[] };
/** A batch's answer: a result per item, and the receipt of the whole batch (absent from older APIs). */
export type BatchAnswer = { results: ItemResult[]; submission: string | null };
export type ReceiptCounts = Record<'queued' | 'active' | 'inserted' | 'updated' | 'unchanged' | 'stale' | 'rejected' | 'failed', number>;
export type ReceiptAnswer = { complete: boolean; counts: ReceiptCounts; notLanded: { index: number; code: string }[] };

export type ClientOptions = { url: string; key?: string | undefined; timeoutMs: number; retryForMs: number; userAgent: string };

export type RetryNotice = { status: number | null; waitMs: number; reason: string };

export type ApiClient = ReturnType<typeof createClient>;

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const PROBE_RETRY_MS = 5000;

export function createClient(options: ClientOptions, onRetry: (notice: RetryNotice) => void = () => {}) {
  const base = options.url.replace(/\/+$/, '');
  const auth: Record<string, string> = options.key ? { authorization: `Bearer ${options.key}` } : {};
  const headers = { 'user-agent': options.userAgent, ...auth };
  const http = createHttp();

  /** One request, retried as the header comment says; answers the final answer. */
  async function send(url: string, init: HttpRequest, final: (res: HttpAnswer) => boolean, retryForMs = options.retryForMs): Promise<HttpAnswer> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let res: HttpAnswer | null = null;
      let reason: string;
      try {
        res = await http.request(url, init, options.timeoutMs);
        if (final(res)) return res;
        reason = `HTTP ${res.status}`;
      } catch (err) {
        reason = networkReason(err);
      }
      const status = res?.status ?? null;
      const fromHeader = status === 429 || status === 503 ? retryAfterMs(res!.retryAfter) : null;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      const waitMs = fromHeader ?? backoff;
      if (Date.now() + waitMs - started > retryForMs && status !== 429) {
        throw new ImportError('API_UNREACHABLE', `${init.method ?? 'GET'} ${url} kept failing for ${Math.round((Date.now() - started) / 1000)} s (last: ${reason}); run again with --resume`);
      }
      onRetry({ status, waitMs, reason });
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }

  const retryable = (res: HttpAnswer) => res.status === 429 || res.status >= 500;
  /** The key goes to the API it was given for, never to another origin an answer names. */
  const sameOrigin = (url: string) => {
    const target = new URL(url, `${base}/`);
    if (target.origin !== new URL(base).origin) throw new ImportError('API_ANSWER_UNEXPECTED', 'a status URL points to another origin than --url; not followed');
    return target.href;
  };

  return {
    base,
    /** Ends the kept-alive connections (the process exits only once they are closed). */
    close: http.close,
    /** Sends one batch (NDJSON, one record per line); answers one result per line, in order. */
    async postBatch(lines: string[], requestId: string): Promise<BatchAnswer> {
      const res = await send(`${base}/api/patients/batch`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-ndjson', 'x-request-id': requestId },
        body: lines.join('\n'),
      }, (r) => !retryable(r));
      const body = json<{ results?: ItemResult[]; submission?: unknown; title?: string; detail?: string }>(res);
      if ((res.status === 202 || res.status === 400) && Array.isArray(body?.results)) {
        if (body.results.length !== lines.length) throw new ImportError('API_ANSWER_UNEXPECTED', `the API answered ${body.results.length} results for ${lines.length} records`);
        return { results: body.results, submission: typeof body.submission === 'string' ? body.submission : null };
      }
      throw refused(res.status, body);
    },
    /** The job status behind an (opaque) status URL; null when the API no longer knows the job. */
    async status(statusUrl: string): Promise<{ state: string; error?: string | null } | null> {
      const res = await send(sameOrigin(statusUrl), { headers }, (r) => !retryable(r));
      if (res.status === 404) return null;
      const body = json<{ state?: string; error?: string | null; title?: string; detail?: string }>(res);
      if (ok(res) && typeof body?.state === 'string') return { state: body.state, error: body.error ?? null };
      throw refused(res.status, body);
    },
    /** A submission's receipt (how its records went); null when the API no longer keeps it. */
    async receipt(url: string): Promise<ReceiptAnswer | null> {
      const res = await send(sameOrigin(url), { headers }, (r) => !retryable(r));
      if (res.status === 404) return null;
      const body = json<Partial<ReceiptAnswer> & { title?: string; detail?: string }>(res);
      if (ok(res) && typeof body?.complete === 'boolean' && body.counts && Array.isArray(body.notLanded)) return body as ReceiptAnswer;
      throw refused(res.status, body);
    },
    /**
     * The API's own batch limit, from its OpenAPI document; null when it does not say. Also the
     * first contact: a wrong --url fails here within seconds instead of after --retry-for.
     */
    async maxBatch(): Promise<number | null> {
      const res = await send(`${base}/docs/json`, { headers }, (r) => !retryable(r), PROBE_RETRY_MS);
      const doc = json<OpenApi>(res);
      const max = doc?.paths?.['/api/patients/batch']?.post?.requestBody?.content?.['application/json']?.schema?.maxItems;
      return ok(res) && Number.isSafeInteger(max) && max! > 0 ? max! : null;
    },
  };
}

const ok = (res: HttpAnswer) => res.status >= 200 && res.status < 300;

/** The answer's body as JSON; null when it is not JSON (a proxy's HTML error page, say). */
function json<T>(res: HttpAnswer): T | null {
  try {
    return JSON.parse(res.body) as T;
  } catch {
    return null;
  }
}

type OpenApi = { paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { maxItems?: number } }> } } }> };

function refused(status: number, body: { title?: string; detail?: string } | null): ImportError {
  const said = body?.detail ?? body?.title ?? '';
  if (status === 401 || status === 403) return new ImportError('API_KEY_REFUSED', `the API refused the key (HTTP ${status}${said ? `: ${said}` : ''}); give one with patients:write scope via API_KEY or --key`);
  if (status === 413) return new ImportError('BATCH_TOO_LARGE', `the API refused a batch as too large (HTTP 413${said ? `: ${said}` : ''}); use a smaller --batch-size`);
  return new ImportError('API_REFUSED', `the API answered HTTP ${status}${said ? `: ${said}` : ''}`);
}

/** Retry-After in seconds or as an HTTP date, as milliseconds; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'request timed out';
  return e.cause?.code ?? e.code ?? e.cause?.message ?? 'network error';
}
