// The API process (after server.ts has started tracing): connections, listen, signals. The app itself is built in app.ts.
import { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../shared/config.ts';
import { onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { createStore } from '../shared/mongo.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import { createRedis, readyOrTimeout } from '../shared/redis.ts';
import { buildApp } from './app.ts';
import type { Tracing } from '../shared/tracing.ts';
import { authProblem } from './auth.ts';

export async function runApi(config: Config, tracing: Tracing | undefined): Promise<void> {
  const problem = authProblem(config);
  if (problem) {
    process.stderr.write(`api: invalid configuration: ${problem}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'api' });
  if (config.AUTH_DEV_MODE && config.API_KEYS.length === 0) {
    logger.warn('DEVELOPMENT MODE: no API keys configured, every caller has every scope and sees every center. Never run like this with real patient data.');
  }
  const connection = createRedis(config.REDIS_URL, 'producer');
  connection.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  const settings = queueSettings(config);
  const queue = new Queue<PatientJobData, PatientJobResult>(settings.name, {
    connection,
    prefix: settings.prefix,
    defaultJobOptions: settings.jobOptions,
    ...(tracing ? { telemetry: tracing.bullmq } : {}),
  });
  queue.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'queue error'));

  // QueueEvents holds a blocking read on its own connection: only for `Prefer: wait=N` answers.
  const eventsConnection = createRedis(config.REDIS_URL, 'worker');
  eventsConnection.on('error', () => {}); // BullMQ works on a duplicate of it, which reports its own errors
  const queueEvents = new QueueEvents(settings.name, { connection: eventsConnection, prefix: settings.prefix });
  queueEvents.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'queue events error'));
  const store = createStore(config);

  if (!(await readyOrTimeout(connection, 5000))) logger.warn('Redis not reachable at start: POST answers 503 until it is');
  const app = await buildApp({ config, logger, queue, redis: connection, store, queueEvents, tracing });
  app.addHook('onClose', async () => {
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    await bounded(queueEvents.close());
    await bounded(queue.close());
    connection.disconnect();
    eventsConnection.disconnect();
    await bounded(store.close());
    if (tracing) await bounded(tracing.shutdown()); // exports what is buffered
  });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, () => app.close());
}
