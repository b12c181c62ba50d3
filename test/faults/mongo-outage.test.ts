import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferretdbServer, started, type LocalServer } from '../support/local-servers.ts';
import { createFaultEnv, jobIdsOf, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

// A FerretDB of this file's own (own port and data directory), so it can be stopped and started.
let dir: string;
let ferret: LocalServer;
let env: FaultEnv;
let ferretLog = '';
/** On a timeout, show what the servers and workers said: a rare failure here must be explainable. */
async function explained(wait: Promise<void>, workers: { output: () => string }[]): Promise<void> {
  try {
    await wait;
  } catch (err) {
    console.log('[mongo-outage diagnostics]', JSON.stringify({ counts: await env.counts(), ferretdb: ferretLog.slice(-3000), workers: workers.map((w) => w.output().slice(-3000)) }));
    throw err;
  }
}
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-fault-mongo-'));
  ferret = await started(ferretdbServer({ dataDir: dir, log: (line) => void (ferretLog += line) }));
  env = await createFaultEnv({ mongoUrl: ferret.url, workerEnv: { MONGO_TIMEOUT_MS: '1000', JOB_BACKOFF_MS: '500', WORKER_CONCURRENCY: '25' } });
});
afterAll(async () => {
  await env?.close();
  await ferret?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PATIENTS = 200;
const VERSIONS = 10;
const OUTAGE_MS = 10_000;
const PER_JOB = 10; // 200 jobs

describe('fault: the MongoDB-protocol server goes away', () => {
  it('when FerretDB is stopped for 10 s mid-run and started again, then every record lands after it returns and none is dead-lettered', { timeout: 150_000 }, async () => {
    const records = shuffle(Array.from({ length: PATIENTS * VERSIONS }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    // Half before the stop, half while FerretDB is down: however fast the workers drain, the
    // outage meets work (Redis still acknowledges; the records wait for the database).
    const half = records.length / 2;
    const refs = await env.enqueue(records.slice(0, half), { perJob: PER_JOB });
    const workers = [env.startWorker(), env.startWorker()];

    await until('a quarter of the first half completed', 60_000, async () => (await env.counts()).completed >= jobIdsOf(refs).length / 4, 20, () => env.counts());
    await ferret.stop();
    const completedAtStop = (await env.counts()).completed;
    refs.push(...(await env.enqueue(records.slice(half), { perJob: PER_JOB })));
    const jobCount = jobIdsOf(refs).length;
    await new Promise((r) => setTimeout(r, OUTAGE_MS)); // a deliberate fault duration: the outage itself, not a synchronisation
    const duringOutage = await env.counts();
    await ferret.start();
    await explained(until('all jobs completed', 90_000, async () => (await env.counts()).completed === jobCount, 200), workers);

    const counts = await env.counts();
    const jobs = await env.queue.getJobs(['completed'], 0, -1);
    const retried = jobs.filter((j) => j.attemptsMade > 1).length;
    const outcomes = await env.outcomes(refs);
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    const deadLetters = await env.store.deadLetters.countDocuments();
    console.log('[mongo-outage]', JSON.stringify({ acknowledged: refs.length, jobs: jobCount, outageMs: OUTAGE_MS, completedJobsAtStop: completedAtStop, completedJobsAfterOutage: duringOutage.completed, retriedJobs: retried, ...check, outcomes, counts, deadLetters }));

    expect(workers.every((w) => w.child.exitCode === null)).toBe(true); // the same processes carried on
    expect(retried).toBeGreaterThan(0); // the outage was felt
    expect(counts).toMatchObject({ completed: jobCount, failed: 0, active: 0, wait: 0, delayed: 0 });
    expect(outcomes.rejected ?? 0).toBe(0);
    expect(check).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(deadLetters).toBe(0);
    for (const w of workers) w.child.kill('SIGTERM');
    expect((await Promise.all(workers.map((w) => w.exited))).map((e) => e.code)).toEqual([0, 0]);
  });

  it('when a worker starts while FerretDB is down, then it takes no job until FerretDB is up and then stores them all', { timeout: 60_000 }, async () => {
    await env.killAll(); // none of the previous test's workers may take this one's jobs
    await env.queue.obliterate({ force: true });
    await ferret.stop();
    const worker = env.startWorker({ MONGO_TIMEOUT_MS: '500' });
    const records = Array.from({ length: 50 }, (_, i) => patientVersion(3001 + i, 1));
    const refs = await env.enqueue(records, { perJob: 5 });
    const jobCount = jobIdsOf(refs).length;
    // The worker is up and has tried MongoDB and failed three times (its own log says so): had it
    // taken a job meanwhile, the job would show as active or failed below.
    const refusals = () => worker.output().split('MongoDB not reachable; not taking jobs yet').length - 1;
    await until('the worker tried MongoDB 3 times', 30_000, async () => refusals() >= 3, 50, async () => ({ counts: await env.counts(), worker: worker.output().slice(-1500) }));
    const whileDown = await env.counts();
    await ferret.start();
    await explained(until('all jobs completed', 30_000, async () => (await env.counts()).completed === jobCount, 200), [worker]);
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    const counts = await env.counts();
    console.log('[mongo-down-at-start]', JSON.stringify({ acknowledged: refs.length, jobs: jobCount, countsWhileDown: whileDown, counts, newestStored: check.newestStored }));

    expect(whileDown).toMatchObject({ wait: jobCount, active: 0, failed: 0 }); // not taken, so not failed
    expect(worker.child.exitCode).toBeNull();
    expect(counts).toMatchObject({ completed: jobCount, failed: 0 });
    expect(check.newestStored).toBe(records.length);
  });
});
