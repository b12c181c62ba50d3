// The one way tests POST to the API: to the in-process app (`app.inject`) or, given a base URL,
// over real HTTP to an API process. Either way the answer has the same shape.
import type { FastifyInstance } from 'fastify';

export type PostOptions = {
  /** Default `/api/patients`. */
  url?: string;
  headers?: Record<string, string>;
  /** Default `application/json`; `null` sends no Content-Type at all. */
  contentType?: string | null;
  /** Over HTTP only: give up after this long (the request is aborted). */
  timeoutMs?: number;
};

export type Answer = {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json: () => any;
};

/** A string or Buffer body goes as it is; anything else as JSON. */
export async function post(target: FastifyInstance | string, body: unknown, { url = '/api/patients', headers = {}, contentType = 'application/json', timeoutMs = 30_000 }: PostOptions = {}): Promise<Answer> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const allHeaders = contentType === null ? headers : { 'content-type': contentType, ...headers };
  if (typeof target !== 'string') return target.inject({ method: 'POST', url, payload, headers: allHeaders });
  const res = await fetch(`${target}${url}`, { method: 'POST', headers: allHeaders, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: text, json: () => JSON.parse(text) };
}
