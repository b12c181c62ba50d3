import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultEnv, jobIdsOf, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';
import { waitForOutput, type Proc } from '../support/processes.ts';

// BullMQ fails a job that stalled more than WORKER_MAX_STALLED_COUNT times without our processor
// running it: the worker's failed event records its dead letter, and if that write is lost the
// periodic sweep does. The limit is 1 here on purpose (the default, 50, is what keeps dying
// workers from failing jobs).
let env: FaultEnv;
let proxy: MongoProxy;
beforeAll(async () => {
  env = await createFaultEnv({
    workerEnv: { WORKER_MAX_STALLED_COUNT: '1', WORKER_LOCK_MS: '1000', WORKER_STALLED_INTERVAL_MS: '500', DEAD_LETTER_SWEEP_MS: '1000', MONGO_TIMEOUT_MS: '1000' },
  });
  proxy = await startMongoProxy(env.config.MONGO_URL);
  proxy.hold(true); // MongoDB hangs: the job stays active in whichever worker takes it
});
afterAll(async () => {
  await env.close();
  await proxy.close();
});

describe('fault: a job fails for good outside the processor', () => {
  it('when a job stalls more often than allowed and the write of its dead letters is lost, then the sweep records one per record', { timeout: 180_000 }, async () => {
    const refs = await env.enqueue([patientVersion(801, 1), patientVersion(802, 1)], { perJob: 2 });
    const [jobId] = jobIdsOf(refs);
    const startsOf = async () => (await env.queue.getJob(jobId!))!.attemptsStarted;
    // MongoDB hangs on patient writes (not on the index the worker ensures at start, or it would never take the job).
    proxy.hold(true, (cmd) => cmd.collection === 'patients' && cmd.name !== 'createIndexes');
    const killWhileHolding = async (starts: number) => {
      const worker: Proc = env.startWorker({ MONGO_URL: proxy.url });
      // A bound, not a timing check: a worker process starting on a loaded machine can take a while.
      await until(`the job started ${starts} time(s)`, 60_000, async () => (await startsOf()) === starts && (await env.queue.getJobState(jobId!)) === 'active');
      worker.child.kill('SIGKILL');
      await worker.exited;
    };
    await killWhileHolding(1);
    await killWhileHolding(2);
    proxy.hold(false);
    // Two letters (one per record): both writes of the failed event are cut (a cut left over hits a sweep, which tries again).
    proxy.cutNext(2, (cmd) => cmd.name === 'update' && cmd.collection === 'dead_letters');
    const last = env.startWorker({ MONGO_URL: proxy.url });
    await until('the job failed', 20_000, async () => (await env.queue.getJobState(jobId!)) === 'failed');
    await waitForOutput(last, /dead letter not recorded; the sweep will add it/);
    await until('a dead letter per record', 20_000, async () => (await env.store.deadLetters.countDocuments({ jobId: { $in: refs } })) === 2, 100, () => env.store.deadLetters.find({}, { projection: { data: 0 } }).toArray());

    const job = (await env.queue.getJob(jobId!))!;
    const letters = await env.store.deadLetters.find({ jobId: { $in: refs } }).sort({ jobId: 1 }).toArray();
    console.log('[stalled-limit]', JSON.stringify({ workersKilled: 2, cutsOnTheWire: proxy.cuts(), attemptsStarted: job.attemptsStarted, failedReason: job.failedReason, deadLetters: letters.map((l) => ({ jobId: l.jobId, errorCode: l.errorCode, recordedBy: l.recordedBy, attempts: l.attempts })) }));

    expect(job.failedReason).toMatch(/stalled more than allowable limit/);
    expect(letters).toMatchObject([
      { jobId: refs[0], errorCode: 'JOB_STALLED_LIMIT', recordedBy: 'sweep', patientId: 801 },
      { jobId: refs[1], errorCode: 'JOB_STALLED_LIMIT', recordedBy: 'sweep', patientId: 802 },
    ]);
    for (const letter of letters) expect(letter.replayedAt ?? null).toBeNull();
  });
});
