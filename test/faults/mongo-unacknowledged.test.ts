import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';
import { createFaultEnv, newestPerPatient, patientVersion, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

// A MongoDB that takes writes and never answers them (a hung primary, a majority that never comes):
// the proxy holds every insert and update unanswered. Every batch must end by itself, cut by the
// socket timeout (two thirds of WORKER_WRITE_LOCK_MS here, below the lock's TTL: test/unit/config.test.ts),
// and everything is stored once the server answers again. How long the cut batches took is reported,
// not asserted (no timing assertions in tests).
const WRITE_LOCK_MS = 3000;
let proxy: MongoProxy;
let env: FaultEnv;
beforeAll(async () => {
  proxy = await startMongoProxy(inject('mongoUrl'));
  env = await createFaultEnv({
    workerEnv: { LOG_LEVEL: 'debug', WORKER_WRITE_LOCK_MS: String(WRITE_LOCK_MS), MONGO_WTIMEOUT_MS: '1000', MONGO_TIMEOUT_MS: '1000', JOB_BACKOFF_MS: '200', WORKER_CONCURRENCY: '10' },
  });
});
afterAll(async () => {
  await env?.close();
  await proxy?.close();
});

type Line = { msg?: string; size?: number; ms?: number; failed?: number; code?: string };
const lines = (text: string): Line[] => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

describe('fault: MongoDB stops acknowledging writes', () => {
  it('when every write is held unanswered, then each batch fails retryable within the bound, and all records land once writes are answered again', { timeout: 120_000 }, async () => {
    const worker = env.startWorker({ MONGO_URL: proxy.url });
    const records = Array.from({ length: 60 }, (_, i) => patientVersion(3001 + i, 1));
    // One record per job here: each job's write is one batch, and its attempt's log line says how long it took.
    const jobIds = await env.enqueue(records.slice(0, 10), { perJob: 1 });
    await until('the first 10 jobs completed', 30_000, async () => (await env.counts()).completed === 10);

    proxy.hold(true, (cmd) => cmd.name === 'insert' || cmd.name === 'update');
    jobIds.push(...(await env.enqueue(records.slice(10), { perJob: 1 })));
    const failedBatches = () => lines(worker.output()).filter((l) => l.msg?.startsWith('job failed'));
    await until('3 batches failed while writes were held', 30_000, async () => failedBatches().length >= 3);
    proxy.hold(false);
    await until('all jobs completed', 60_000, async () => (await env.counts()).completed === records.length, 200);

    const held = failedBatches();
    const failures = lines(worker.output()).filter((l) => l.msg?.startsWith('job failed'));
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, jobIds));
    console.log('[mongo-unacknowledged]', JSON.stringify({ failedBatches: held.length, batchMs: held.map((b) => b.ms), codes: [...new Set(failures.map((f) => f.code))], ...check }));

    expect(held.every((b) => typeof b.ms === 'number'), 'each cut batch logged how long it took').toBe(true);
    expect(new Set(failures.map((f) => f.code))).toEqual(new Set(['DB_UNAVAILABLE']));
    expect(check).toMatchObject({ patients: 60, storedDocs: 60, newestStored: 60, duplicates: 0, missing: 0 });
    expect((await env.counts()).failed).toBe(0);
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });

});
