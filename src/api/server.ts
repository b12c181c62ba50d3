// API process entry. Tracing starts first, when configured (src/shared/tracing/tracing.ts): its
// instrumentations patch http, ioredis and the MongoDB driver as they load, so the process itself
// (run-api.ts) is imported only afterwards.
import { loadConfigOrExit } from '../shared/entry.ts';
import { startTracing } from '../shared/tracing/tracing.ts';

const tracing = await startTracing('api', process.env);
const config = loadConfigOrExit('api', process.env);
const { runApi } = await import('./run-api.ts');
await runApi(config, tracing);
