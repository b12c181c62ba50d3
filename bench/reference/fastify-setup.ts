// The reference servers' Fastify: the same options, parsers, error answers and one-log-line-per-request
// hook as src/api/app.ts, so a difference in throughput is the route's work, not the framework setup.
// (Copied rather than imported: buildApp registers the real routes. Keep in step with app.ts.)
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { errorHandler, notFoundHandler } from '../../src/api/problem.ts';
import type { Config } from '../../src/shared/config/config.ts';
import { loadConfigOrExit, onShutdown } from '../../src/shared/entry.ts';
import { createLogger, type Logger } from '../../src/shared/logger.ts';

export async function referenceApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.API_BODY_LIMIT_BYTES,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addContentTypeParser('text/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  await app.register(formbody, { bodyLimit: config.API_BODY_LIMIT_BYTES });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });
  return app;
}

/** Config from the environment (as the real processes), listen, stop on SIGTERM. */
export async function serveReference(name: string, routes: (app: FastifyInstance, config: Config, logger: Logger) => Promise<() => Promise<void>>): Promise<void> {
  const config = loadConfigOrExit(name, process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, name });
  const app = await referenceApp(config, logger);
  const close = await routes(app, config, logger);
  app.addHook('onClose', close);
  await app.listen({ host: config.API_HOST, port: config.API_PORT });
  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, () => app.close());
}
