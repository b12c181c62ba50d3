import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServer, started, type LocalServer } from '../support/local-servers.ts';
import { createFaultEnv, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

// T5: Redis frozen (SIGSTOP), not gone: connections stay open and simply stop answering, for longer
// than a job lock lives. Job locks and patient write locks expire meanwhile, so after SIGCONT jobs
// are taken again by the stalled-job check while their first run may still be finishing.
let dir: string;
let redis: LocalServer;
let env: FaultEnv;
const LOCK_MS = 2000;
const FREEZE_MS = 3 * LOCK_MS; // the fault itself: how long Redis stays frozen

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-fault-freeze-'));
  redis = await started(redisServer({ dataDir: dir, fsync: 'always' }));
  env = await createFaultEnv({
    redisUrl: redis.url,
    workerEnv: { WORKER_CONCURRENCY: '25', WORKER_LOCK_MS: String(LOCK_MS), WORKER_STALLED_INTERVAL_MS: '1000', WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000' },
  });
});
afterAll(async () => {
  redis?.signal('SIGCONT');
  await env?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PATIENTS = 200;

describe('fault: Redis freezes longer than the job lock', () => {
  it('when Redis is SIGSTOPped past the job lock and then resumed, then no acknowledged record is lost and no patient is stored twice', { timeout: 150_000 }, async () => {
    const records = shuffle(Array.from({ length: PATIENTS * 5 }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    // One record per job: the job counts below are record counts.
    const jobIds = await env.enqueue(records, { perJob: 1 });
    const workers = [env.startWorker(), env.startWorker()];

    await until('a fifth of the jobs completed', 60_000, async () => (await env.counts()).completed >= records.length / 5, 20);
    redis.signal('SIGSTOP');
    await new Promise((r) => setTimeout(r, FREEZE_MS)); // a deliberate fault duration: Redis frozen past the job lock
    redis.signal('SIGCONT');

    let counts = await env.counts();
    await until('every acknowledged job completed', 120_000, async () => (counts = await env.counts()).completed === records.length, 200).catch((err: Error) => {
      throw new Error(`${err.message}; last counts ${JSON.stringify(counts)}`);
    });
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, jobIds));
    const alive = workers.filter((w) => w.child.exitCode === null).length;
    console.log('[redis-freeze]', JSON.stringify({ acknowledged: jobIds.length, freezeMs: FREEZE_MS, lockMs: LOCK_MS, ...check, counts, workersAlive: alive }));

    expect(check).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    expect(counts).toMatchObject({ completed: records.length, failed: 0, active: 0, wait: 0 });
    expect(alive).toBe(2);
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });
});
