import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { sendProblem } from './problem.ts';

// RFC 9110: a method the resource does not serve is 405 with an `Allow` header, not 404. Fastify's
// router answers 404 for any unmatched (method, path), so the not-found handler asks the routes
// seen so far whether the path exists under another method.

type Known = { pattern: RegExp; methods: Set<string> };

const toPattern = (url: string) =>
  new RegExp(`^${url.split(/(:[^/]+|\*)/).map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')}$`);

/**
 * Call before any route is registered. An onRequest hook, not the not-found handler: Fastify
 * refuses a body-carrying method without Content-Type (QUERY) before a not-found handler runs.
 */
export function methodNotAllowed(app: FastifyInstance): void {
  const known = new Map<string, Known>();
  app.addHook('onRoute', (route: RouteOptions) => {
    const entry = known.get(route.url) ?? { pattern: toPattern(route.url), methods: new Set<string>() };
    for (const method of [route.method].flat()) entry.methods.add(method.toUpperCase());
    known.set(route.url, entry);
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    // A path with a static route is that resource, even where a parametric route of another method
    // would match it (GET /api/patients/batch is not GET /api/patients/:id): its methods alone count.
    const own = known.get(path);
    if (!request.is404 && !(own && request.routeOptions.url?.includes(':'))) return;
    const methods = new Set<string>(own?.methods);
    if (!own) for (const { pattern, methods: served } of known.values()) if (pattern.test(path)) served.forEach((m) => methods.add(m));
    if (methods.size === 0 || methods.has(request.method)) return;
    const allow = [...methods].sort().join(', ');
    reply.header('allow', allow);
    return sendProblem(reply, { type: 'about:blank', title: 'Method Not Allowed', status: 405, detail: `${request.method} is not served here; allowed: ${allow}` });
  });
}
