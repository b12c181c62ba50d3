import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServer, started, type LocalServer } from '../../scripts/local-servers.ts';
import { createFaultEnv, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

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

describe('fault: Redis goes away', () => {
  it('when Redis is stopped and started again mid-run, then the same worker processes carry on and every job acknowledged before the stop is stored', { timeout: 150_000 }, async () => {
    const before = shuffle(Array.from({ length: PATIENTS * 5 }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    const beforeIds = await env.enqueue(before);
    const workers = [env.startWorker(), env.startWorker()];
    const pids = workers.map((w) => w.child.pid);

    await until('a quarter of the jobs completed', 60_000, async () => (await env.counts()).completed >= before.length / 4, 20);
    await redis.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await redis.start();
    await until('every job acknowledged before the stop completed', 90_000, async () => (await env.counts()).completed === before.length, 200);
    const checkBefore = await storedVersusAcknowledged(env.store, newestPerPatient(before, beforeIds));

    // Jobs acknowledged after the restart go to the same processes too.
    const after = Array.from({ length: PATIENTS }, (_, i) => patientVersion(1 + i, 6));
    const afterIds = await env.enqueue(after);
    const total = before.length + after.length;
    await until('the jobs acknowledged after the restart completed', 60_000, async () => (await env.counts()).completed === total, 200);

    const counts = await env.counts();
    const checkAfter = await storedVersusAcknowledged(env.store, newestPerPatient(after, afterIds));
    const stillRunning = workers.filter((w, i) => w.child.exitCode === null && w.child.pid === pids[i]).length;
    console.log('[redis-outage]', JSON.stringify({ acknowledgedBeforeStop: beforeIds.length, outageMs: OUTAGE_MS, storedBefore: checkBefore, acknowledgedAfterRestart: afterIds.length, storedAfter: checkAfter, sameWorkerProcesses: stillRunning, counts }));

    expect(checkBefore).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(stillRunning).toBe(2);
    expect(counts).toMatchObject({ completed: total, failed: 0, active: 0, wait: 0, delayed: 0 });
    expect(checkAfter).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });
});
