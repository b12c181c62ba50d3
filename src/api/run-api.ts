// The API process (after server.ts has started tracing): connections, listen, signals. The app itself is built in app.ts.
import type { Config } from '../shared/config/config.ts';
import { onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { closeWithin } from '../shared/close.ts';
import { CLOSE_EACH_MS, openProducer } from '../shared/connections.ts';
import { readyOrTimeout } from '../shared/redis.ts';
import { buildApp } from './app.ts';
import type { Tracing } from '../shared/tracing/tracing.ts';
import { authProblem } from './auth.ts';
import { idempotencySecretProblem } from './idempotency-secret.ts';

export async function runApi(config: Config, tracing: Tracing | undefined): Promise<void> {
  const problem = authProblem(config) ?? idempotencySecretProblem(config);
  if (problem) {
    process.stderr.write(`api: invalid configuration: ${problem}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'api' });
  if (config.AUTH_DEV_MODE && config.API_KEYS.length === 0) {
    logger.warn('DEVELOPMENT MODE: no API keys configured, every caller has every scope and sees every center. Never run like this with real patient data.');
  }
  if (!config.API_IDEMPOTENCY_SECRET) logger.warn('API_IDEMPOTENCY_SECRET is not set: a random key of this process signs the Idempotency-Key store, so a retry replays only against this process (another answers 422)');
  const { redis, queues, queueEvents, store, close } = openProducer(config, { logger, tracing, queueEvents: true });
  if (!(await readyOrTimeout(redis, 5000))) logger.warn('Redis not reachable at start: POST answers 503 until it is');
  const app = await buildApp({ config, logger, queues, redis, store, queueEvents, tracing });
  app.addHook('onClose', async () => {
    await close();
    if (tracing) await closeWithin(CLOSE_EACH_MS, () => tracing.shutdown()); // exports what is buffered
  });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, () => app.close());
}
