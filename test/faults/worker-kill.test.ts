import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WriteOutcome } from '../../src/shared/queue.ts';
import { createFaultEnv, jobIdsOf, newestPerPatient, patientVersion, shuffle, storedVersusAcknowledged, until, type FaultEnv } from '../support/fault-env.ts';
import type { Proc } from '../support/processes.ts';

// Short job locks so that the jobs a killed worker held come back in seconds, not 30 s. The default
// WORKER_CONCURRENCY (8 batch jobs of 10 records: 80 records in flight per process).
let env: FaultEnv;
beforeAll(async () => {
  env = await createFaultEnv({
    workerEnv: { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000', WORKER_CONCURRENCY: '8' },
  });
});
afterAll(() => env.close());

// 5,000 records as 250 patients x 20 versions: FerretDB found a numeric _id (the key before (center_id, id))
// by scanning the whole collection, so fewer, busier patients keep the run short while mixing versions more. In jobs of
// 10 records (500 jobs), so that a kill catches many jobs and records in flight.
const PATIENTS = 250;
const VERSIONS = 20;
const PER_JOB = 10;

describe('fault: the worker process is killed', () => {
  it('when the worker is SIGKILLed 3 times during a 5,000-record run and restarted, then every acknowledged patient is stored once with its newest version and no job is lost or left active', { timeout: 150_000 }, async () => {
    const records = shuffle(Array.from({ length: PATIENTS * VERSIONS }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    const refs = await env.enqueue(records, { perJob: PER_JOB });
    const jobCount = jobIdsOf(refs).length;
    const completed = async () => (await env.counts()).completed;

    let worker: Proc = env.startWorker();
    const killedAt: number[] = [];
    for (const share of [0.15, 0.4, 0.65]) {
      await until(`${share * 100}% completed`, 60_000, async () => (await completed()) >= jobCount * share, 20, async () => ({ counts: await env.counts(), worker: worker.output().slice(-2000) }));
      worker.child.kill('SIGKILL');
      expect((await worker.exited).signal).toBe('SIGKILL');
      killedAt.push(await completed());
      worker = env.startWorker();
    }
    await until('all jobs completed', 90_000, async () => (await completed()) === jobCount, 200, async () => ({ counts: await env.counts(), worker: worker.output().slice(-2000) }));

    const counts = await env.counts();
    const jobs = await env.queue.getJobs(['completed'], 0, -1);
    const redelivered = jobs.filter((j) => j.attemptsStarted > 1).length;
    const outcomes: Record<WriteOutcome | 'rejected' | 'undecided', number> = { inserted: 0, updated: 0, unchanged: 0, stale: 0, rejected: 0, undecided: 0, ...(await env.outcomes(refs)) };
    const check = await storedVersusAcknowledged(env.store, newestPerPatient(records, refs));
    const deadLetters = await env.store.deadLetters.countDocuments();
    console.log('[worker-kill]', JSON.stringify({ acknowledged: refs.length, jobs: jobCount, kills: killedAt.length, completedJobsAtKills: killedAt, redeliveredJobs: redelivered, ...check, outcomes, counts, deadLetters }));

    expect(killedAt).toHaveLength(3);
    expect(counts).toMatchObject({ completed: jobCount, failed: 0, active: 0, wait: 0, delayed: 0 });
    expect(outcomes.inserted + outcomes.updated + outcomes.unchanged + outcomes.stale).toBe(records.length);
    expect(check).toMatchObject({ patients: PATIENTS, storedDocs: PATIENTS, newestStored: PATIENTS, duplicates: 0, missing: 0 });
    // A job killed after its write and before it completed is re-delivered and finds itself stored.
    expect(outcomes.inserted).toBeLessThanOrEqual(PATIENTS);
    expect(deadLetters).toBe(0);
    // The kills did catch jobs in flight: they came back and ran again, and re-running changed nothing
    // but their own records (one document per patient, the newest; no record refused).
    expect(redelivered).toBeGreaterThan(0);
    expect(outcomes.rejected + outcomes.undecided).toBe(0);
  });
});
