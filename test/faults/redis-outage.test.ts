import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServer, started, type LocalServer } from '../support/local-servers.ts';
import { createFaultEnv, jobIdsOf, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

// A Redis of this file's own (appendonly yes, appendfsync always), so it can be stopped and started.
let dir: string;
let redis: LocalServer;
let env: FaultEnv;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-fault-redis-'));
  redis = await started(redisServer({ dataDir: dir, fsync: 'always' }));
  env = await createFaultEnv({ redisUrl: redis.url, workerEnv: { WORKER_CONCURRENCY: '25' } });
});
afterAll(async () => {
  await env?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PATIENTS = 200;
const OUTAGE_MS = 3000;
const PER_JOB = 5; // 200 jobs before the stop

describe('fault: Redis goes away', () => {
  it('when Redis is stopped and started again mid-run, then the same worker processes carry on and every record acknowledged before the stop is stored', { timeout: 150_000 }, async () => {
    const before = shuffle(Array.from({ length: PATIENTS * 5 }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    const beforeRefs = await env.enqueue(before, { perJob: PER_JOB });
    const beforeJobs = jobIdsOf(beforeRefs).length;
    const workers = [env.startWorker(), env.startWorker()];
    const pids = workers.map((w) => w.child.pid);

    await until('a quarter of the jobs completed', 60_000, async () => (await env.counts()).completed >= beforeJobs / 4, 20, () => env.counts());
    await redis.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS)); // a deliberate fault duration: the outage itself, not a synchronisation
    await redis.start();
    const seen = async () => ({ counts: await env.counts(), workers: workers.map((w) => w.output().slice(-1500)) });
    await until('every job acknowledged before the stop completed', 90_000, async () => (await env.counts()).completed === beforeJobs, 200, seen);
    const checkBefore = await storedVersusAcknowledged(env.store, newestPerPatient(before, beforeRefs));

    // Records acknowledged after the restart go to the same processes too.
    const after = Array.from({ length: PATIENTS }, (_, i) => patientVersion(1 + i, 6));
    const afterRefs = await env.enqueue(after, { perJob: PER_JOB });
    const total = beforeJobs + jobIdsOf(afterRefs).length;
    await until('the jobs acknowledged after the restart completed', 60_000, async () => (await env.counts()).completed === total, 200, seen);

    const counts = await env.counts();
    const checkAfter = await storedVersusAcknowledged(env.store, newestPerPatient(after, afterRefs));
    const stillRunning = workers.filter((w, i) => w.child.exitCode === null && w.child.pid === pids[i]).length;
    console.log('[redis-outage]', JSON.stringify({ acknowledgedBeforeStop: beforeRefs.length, jobsBeforeStop: beforeJobs, outageMs: OUTAGE_MS, storedBefore: checkBefore, acknowledgedAfterRestart: afterRefs.length, storedAfter: checkAfter, sameWorkerProcesses: stillRunning, counts }));

    expect(checkBefore).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(stillRunning).toBe(2);
    expect(counts).toMatchObject({ completed: total, failed: 0, active: 0, wait: 0, delayed: 0 });
    expect(checkAfter).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });
});
