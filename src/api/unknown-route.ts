import type { FastifyInstance } from 'fastify';
import { notFoundHandler } from './problem.ts';

// A request no route serves is answered 404 in onRequest, before its body is read or parsed:
// Fastify would otherwise run the content-type parser for the not-found handler too, so anyone
// could make the API parse (and depth-scan) 1 MiB bodies without a key (issue 22). Register after
// methodNotAllowed: a known path under another method is still 405.

export function unknownRoutes(app: FastifyInstance, bodyLimitBytes: number): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    // A body the server would never take (beyond the limit, or of unknown length) is not drained
    // either: the connection closes after the answer. A smaller one Node discards unread, and the
    // connection stays usable for a client that only mistyped a path.
    const length = request.headers['content-length'];
    const bodyless = length === undefined && request.headers['transfer-encoding'] === undefined;
    if (!bodyless && !(Number(length) <= bodyLimitBytes)) reply.header('connection', 'close');
    return notFoundHandler(request, reply);
  });
}
