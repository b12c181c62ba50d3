// Worker process entry. Tracing starts first, when configured (src/shared/tracing/tracing.ts): its
// instrumentations patch ioredis and the MongoDB driver as they load, so the process itself
// (run-worker.ts) is imported only afterwards.
import { loadConfigOrExit } from '../shared/entry.ts';
import { startTracing } from '../shared/tracing/tracing.ts';

const tracing = await startTracing('worker', process.env);
const config = loadConfigOrExit('worker', process.env);
const { runWorker } = await import('./run-worker.ts');
await runWorker(config, tracing);
