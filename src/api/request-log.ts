import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

// The one log line per request, and the request's id. Its fields are this fixed list: our ids
// (request, job, dead letter), the key's id, counts, the route template. Never a patient's id or
// value: the access audit and the worker's audit hold which patient a request touched, joined by
// request id or job id (docs/operations.md, "Logs and privacy").

/** What a route may add to its request's log line (`refused`: an error code, `index`: a batch item's position). No patient id. */
export type LogFields = { jobId?: string; letter?: string; replay?: 'idempotency'; items?: number; accepted?: number; rejected?: number; refused?: string; index?: number };

const TOKEN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Every request gets an id of ours. A client's X-Request-Id is never used in its place: a client
 * could otherwise give two requests one id, or another client's id, in the logs and the access audit.
 */
export const newRequestId = (): string => randomUUID();

/** The client's X-Request-Id when it is a plain token (it goes into a log line as it is); else none. */
export function clientRequestId(request: FastifyRequest): string | undefined {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && TOKEN.test(given) ? given : undefined;
}

export function requestLogLine(request: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  return {
    method: request.method,
    route: request.routeOptions.url ?? '(none)',
    status: reply.statusCode,
    ms: Math.round(reply.elapsedTime * 10) / 10,
    client: request.client?.id,
    clientAddress: request.ip,
    clientRequestId: clientRequestId(request),
    ...request.logFields,
  };
}
