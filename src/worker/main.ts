// Worker process entry: config, connections, signals. The worker itself is built in create-worker.ts.
import { loadConfigOrExit, onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { createStore } from '../shared/mongo.ts';
import { createRedis } from '../shared/redis.ts';
import { createWorker } from './create-worker.ts';

const config = loadConfigOrExit('worker', process.env);
const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
const store = createStore(config);
const connection = createRedis(config.REDIS_URL, 'worker');
const { close } = createWorker({ config, connection, store, logger });
logger.info({ queue: config.QUEUE_NAME, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, async () => {
  await close(() => store.close());
  connection.disconnect();
});
