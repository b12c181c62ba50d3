import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultEnv, jobIdsOf, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';
import type { Proc } from '../support/processes.ts';

// The deadline under test is SHUTDOWN_TIMEOUT_MS: in-flight jobs finish or are handed back, and
// the process is gone, within it.
const DEADLINE_MS = 4000;

let env: FaultEnv;
let proxy: MongoProxy;
beforeAll(async () => {
  env = await createFaultEnv({ workerEnv: { SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS), WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000', WORKER_CONCURRENCY: '25' } });
  proxy = await startMongoProxy(env.config.MONGO_URL);
});
afterAll(async () => {
  await env.close();
  await proxy.close();
});

/** SIGTERM, then the exit, waited for within a bound far past the deadline (a hang fails with the worker's output). */
async function terminate(worker: Proc) {
  worker.child.kill('SIGTERM');
  let exit: Awaited<Proc['exited']> | undefined;
  void worker.exited.then((e) => (exit = e));
  await until('the worker to exit after SIGTERM', DEADLINE_MS * 3, async () => exit !== undefined, 50, async () => worker.output().slice(-2000));
  return exit!;
}

describe('fault: SIGTERM under load', () => {
  it('when the worker gets SIGTERM during a run, then it exits 0, no job stays active, and a new worker finishes the rest', { timeout: 90_000 }, async () => {
    const records = shuffle(Array.from({ length: 1500 }, (_, i) => patientVersion(1 + (i % 300), 1 + Math.floor(i / 300))));
    const refs = await env.enqueue(records, { perJob: 10 });
    const jobCount = jobIdsOf(refs).length;
    const worker = env.startWorker();
    await until('a tenth of the jobs completed', 60_000, async () => (await env.counts()).completed >= jobCount / 10, 20, () => env.counts());

    const exit = await terminate(worker);
    const afterExit = await env.counts();
    const next = env.startWorker();
    await until('all jobs completed', 60_000, async () => (await env.counts()).completed === jobCount, 200, () => env.counts());
    const nextExit = await terminate(next);
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    console.log('[shutdown/load]', JSON.stringify({ acknowledged: refs.length, jobs: jobCount, exit, deadlineMs: DEADLINE_MS, countsAfterExit: afterExit, ...check }));

    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(afterExit.active).toBe(0);
    expect(nextExit).toMatchObject({ code: 0, signal: null });
    expect(check).toMatchObject({ patients: 300, storedDocs: 300, newestStored: 300, duplicates: 0, missing: 0 });
  });

  it('when the worker gets SIGTERM while its writes cannot finish, then it hands its jobs back to the queue at the deadline and exits 0', { timeout: 90_000 }, async () => {
    await env.killAll(); // none of the previous test's workers may take this one's jobs
    await env.queue.obliterate({ force: true });
    await env.store.patients.deleteMany({});
    // Through the proxy: once it holds every request unanswered, every running job waits for MongoDB
    // (a hung server; connect and selection timeouts far beyond the deadline).
    const worker = env.startWorker({ MONGO_URL: proxy.url, MONGO_TIMEOUT_MS: '60000' });
    // Jobs of 2 records: 5 go through, then 45 meet the hung server (25 of them at once, WORKER_CONCURRENCY).
    const records = Array.from({ length: 100 }, (_, i) => patientVersion(2001 + i, 1));
    const refs = await env.enqueue(records.slice(0, 10), { perJob: 2 });
    await until('the first 5 jobs completed', 30_000, async () => (await env.counts()).completed === 5, 100, () => env.counts());
    proxy.hold(true);
    refs.push(...(await env.enqueue(records.slice(10), { perJob: 2 })));
    await until('jobs stuck in active', 30_000, async () => (await env.counts()).active >= 25, 100, () => env.counts());

    const stuck = await env.counts();
    const exit = await terminate(worker);
    const afterExit = await env.counts();
    proxy.hold(false);
    env.startWorker({ MONGO_URL: proxy.url });
    await until('all jobs completed', 60_000, async () => (await env.counts()).completed === jobIdsOf(refs).length, 200, () => env.counts());
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    console.log('[shutdown/stuck]', JSON.stringify({ acknowledged: refs.length, jobs: jobIdsOf(refs).length, activeAtSigterm: stuck.active, exit, deadlineMs: DEADLINE_MS, countsAfterExit: afterExit, ...check, deadLetters: await env.store.deadLetters.countDocuments() }));

    // Its writes could never finish (the proxy held them until after the exit): only the deadline ended them.
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(worker.output()).toContain('shutdown deadline: in-flight jobs handed back to the queue');
    expect(afterExit.active).toBe(0); // handed back at once, not left for the stalled-job check
    expect(afterExit.wait).toBe(45); // every job not done: (100 - 10) records / 2 per job
    expect(check).toMatchObject({ patients: 100, storedDocs: 100, newestStored: 100, duplicates: 0, missing: 0 });
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });
});
