import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/shared/mongo.ts';
import type { WriteOutcome } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { createPatientStore } from '../../src/worker/write/batch-write.ts';
import { createWriteLock } from '../../src/worker/write/write-lock.ts';
import { chooseStrategy, ferretStrategy } from '../../src/worker/write/write-strategy.ts';
import { patientDoc, seedKey } from '../support/patient-docs.ts';
import { createFaultEnv, jobIdsOf, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';

// Jobs of 4 records (versions of the one patient share a job too) and 4 processes x 4 jobs at once:
// the same patient is written from within one job and from many jobs and processes at the same time.
let env: FaultEnv;
beforeAll(async () => {
  env = await createFaultEnv({ workerEnv: { WORKER_CONCURRENCY: '4' } });
});
afterAll(() => env.close());

describe('fault: versions of one patient arrive out of order', () => {
  it('when 100 versions of a patient are enqueued shuffled and 4 worker processes take them at once, then the newest version is stored', { timeout: 90_000 }, async () => {
    const workers = [1, 2, 3, 4].map(() => env.startWorker());
    const records = shuffle(Array.from({ length: 100 }, (_, v) => patientVersion(42, v + 1)));
    const refs = await env.enqueue(records, { perJob: 4 });
    const jobs = jobIdsOf(refs).length;

    await until(`all ${jobs} jobs completed`, 60_000, async () => (await env.counts()).completed === jobs, 100, () => env.counts());

    const outcomes: Record<WriteOutcome | 'rejected' | 'undecided', number> = { inserted: 0, updated: 0, unchanged: 0, stale: 0, rejected: 0, undecided: 0, ...(await env.outcomes(refs)) };
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    const counts = await env.counts();
    console.log('[out-of-order]', JSON.stringify({ acknowledged: refs.length, jobs, workerProcesses: workers.length, ...check, outcomes, failed: counts.failed }));

    expect(jobs).toBe(25);
    expect(check).toMatchObject({ patients: 1, storedDocs: 1, newestStored: 1, duplicates: 0, missing: 0 });
    expect(outcomes.inserted).toBe(1);
    expect(outcomes.inserted + outcomes.updated + outcomes.stale + outcomes.unchanged).toBe(records.length);
    expect(counts.failed).toBe(0);
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
  });

  // The same race without BullMQ in between, as tight as it gets: 8 writers, each with its own
  // MongoDB and Redis connections like separate processes, 40 versions of one patient at once.
  // FerretDB runs the guarded replace as read-then-write; without the per-patient lock an older
  // version landed last in 18 of 30 such rounds.
  it('when 8 writers with their own connections write 40 versions of one patient at once, then every round stores the newest', { timeout: 60_000 }, async () => {
    const writers = await Promise.all(Array.from({ length: 8 }, async () => {
      const store = createStore(env.config);
      const redis = createRedis(env.config.REDIS_URL, 'worker');
      const lock = createWriteLock(redis, `${env.config.QUEUE_PREFIX}:write-lock:${env.config.MONGO_DB}`, 5000);
      const strategy = await chooseStrategy(store.db, env.config.MONGO_WRITE_CONCERN, () => ferretStrategy(lock, 10_000));
      const writer = createPatientStore({ patients: store.patients, strategy });
      return { writer, close: async () => { await store.close(); redis.disconnect(); } };
    }));
    const rounds = 10;
    let newestStored = 0;
    try {
      for (let round = 0; round < rounds; round++) {
        const id = 1000 + round;
        const versions = shuffle(Array.from({ length: 40 }, (_, v) => v + 1));
        const results = await Promise.all(versions.map((v, i) => writers[i % writers.length]!.writer.write([{ doc: patientDoc(id, v) }])));
        expect(results.flat().filter((r) => !r.ok)).toEqual([]);
        const stored = await env.store.patients.findOne({ _id: seedKey(id) });
        if (stored?.fullname === `patient ${id} version 40`) newestStored++;
      }
    } finally {
      await Promise.all(writers.map((w) => w.close()));
    }
    console.log('[out-of-order/writers]', JSON.stringify({ rounds, writesPerRound: 40, writers: writers.length, newestStored }));
    expect(newestStored).toBe(rounds);
  });
});
