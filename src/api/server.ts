// API process entry: config, connections, listen, signals. The app itself is built in app.ts.
import { Queue } from 'bullmq';
import { loadConfigOrExit, onShutdown } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { queueSettings, type PatientJobData, type PatientJobResult } from '../shared/queue.ts';
import { createRedis } from '../shared/redis.ts';
import { buildApp } from './app.ts';

const config = loadConfigOrExit('api', process.env);
const logger = createLogger({ level: config.LOG_LEVEL, name: 'api' });
const connection = createRedis(config.REDIS_URL, 'producer');
connection.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
const settings = queueSettings(config);
const queue = new Queue<PatientJobData, PatientJobResult>(settings.name, {
  connection,
  prefix: settings.prefix,
  defaultJobOptions: settings.jobOptions,
});
queue.on('error', (err) => logger.warn({ err: { name: err.name, message: err.message } }, 'queue error'));

const app = await buildApp({ config, logger, queue });
app.addHook('onClose', async () => {
  await queue.close();
  connection.disconnect();
});
await app.listen({ host: config.API_HOST, port: config.API_PORT });

onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS + 5000, () => app.close());
