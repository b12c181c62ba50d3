// The API process (after server.ts has started tracing): connections, listen, signals. The app itself is built in app.ts.
import { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../shared/config.ts';
import { onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { createStore } from '../shared/mongo.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import { readyOrTimeout, redisFor } from '../shared/redis.ts';
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
  const connection = redisFor(config, 'producer');
  connection.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  const settings = queueSettings(config);
  // One queue per partition, all on the one producer connection (a cluster client routes each by its slot).
  const queues = settings.names.map((name) => {
    const queue = new Queue<PatientJobData, PatientJobResult>(name, {
      connection,
      prefix: settings.prefix,
      defaultJobOptions: settings.jobOptions,
      ...(tracing ? { telemetry: tracing.bullmq } : {}),
    });
    queue.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message }, queue: name }, 'queue error'));
    return queue;
  });

  // QueueEvents hold a blocking read on their own connection: only for `Prefer: wait=N` answers.
  const eventsConnection = redisFor(config, 'worker');
  eventsConnection.on('error', () => {}); // BullMQ works on duplicates of it, which report their own errors
  const queueEvents = settings.names.map((name) => {
    const events = new QueueEvents(name, { connection: eventsConnection, prefix: settings.prefix });
    events.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message }, queue: name }, 'queue events error'));
    return events;
  });
  const store = createStore(config);

  if (!(await readyOrTimeout(connection, 5000))) logger.warn('Redis not reachable at start: POST answers 503 until it is');
  const app = await buildApp({ config, logger, queues, redis: connection, store, queueEvents, tracing });
  app.addHook('onClose', async () => {
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    await bounded(Promise.all(queueEvents.map((e) => e.close())));
    await bounded(Promise.all(queues.map((q) => q.close())));
    connection.disconnect();
    eventsConnection.disconnect();
    await bounded(store.close());
    if (tracing) await bounded(tracing.shutdown()); // exports what is buffered
  });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, () => app.close());
}
