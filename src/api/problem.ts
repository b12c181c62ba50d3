import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../shared/errors.ts';

// One error handler for the whole API, answering RFC 9457 problem+json. 4xx explain what is wrong
// and where; 5xx reveal nothing internal. Messages are ours: a parser's or driver's own message
// could quote the body, so it is never passed through.

export type Problem = { type: string; title: string; status: number; detail?: string; [extension: string]: unknown };

const FASTIFY_DETAILS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Content-Type must be application/json, text/json or application/x-www-form-urlencoded',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON, or it contains a forbidden __proto__ or constructor.prototype key',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty; a JSON object is expected',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the body is larger than this server accepts',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
};

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  // An error describes one request at one moment; 404 (and 405) are even cacheable by default
  // (RFC 9111 4.2.2): no cache in front may keep one, /api or not.
  reply.header('cache-control', 'no-store');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

export function toProblem(error: FastifyError | Error): Problem {
  if (error instanceof ValidationError) {
    return {
      type: '/docs#problem-invalid-patient',
      title: 'Invalid patient record',
      status: 400,
      detail: `${error.issues.length} field(s) are invalid; see errors`,
      errors: error.issues,
    };
  }
  if (error instanceof AppError) {
    return { type: `/docs#problem-${error.code.toLowerCase()}`, title: STATUS_CODES[error.statusCode] ?? 'Error', status: error.statusCode, detail: error.message, code: error.code };
  }
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Bad Request', status, detail: (code && FASTIFY_DETAILS[code]) ?? STATUS_CODES[status] };
  }
  return { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'something went wrong on our side; nothing about the request is known to have been accepted' };
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toProblem(error);
  if (problem.status >= 500 && !(error instanceof AppError)) {
    // The stack without its first line: that line is `Name: message`, and a message can quote input.
    request.log.error({ err: { name: error.name, code: (error as FastifyError).code, stack: error.stack?.split('\n').slice(1).join('\n') } }, 'unhandled error');
  } else if (error instanceof ValidationError) {
    // Paths and rules only: which fields were wrong, never what they held.
    request.log.info({ invalid: error.issues.map((i) => i.path) }, 'rejected invalid patient');
  }
  if (problem.status === 503) reply.header('retry-after', '5');
  return sendProblem(reply, problem);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` });
}
