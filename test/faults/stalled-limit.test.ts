import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultEnv, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';
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
  it('when a job stalls more often than allowed and the write of its dead letter is lost, then the sweep records it', { timeout: 60_000 }, async () => {
    const [jobId] = await env.enqueue([patientVersion(801, 1)]);
    const startsOf = async () => (await env.queue.getJob(jobId!))!.attemptsStarted;
    proxy.hold(true, (cmd) => cmd.collection === 'patients'); // MongoDB hangs on patients
    const killWhileHolding = async (starts: number) => {
      const worker: Proc = env.startWorker({ MONGO_URL: proxy.url });
      await until(`the job started ${starts} time(s)`, 20_000, async () => (await startsOf()) === starts && (await env.queue.getJobState(jobId!)) === 'active');
      worker.child.kill('SIGKILL');
      await worker.exited;
    };
    await killWhileHolding(1);
    await killWhileHolding(2);
    proxy.hold(false);
    proxy.cutNext(1, (cmd) => cmd.name === 'update' && cmd.collection === 'dead_letters');
    const last = env.startWorker({ MONGO_URL: proxy.url });
    await until('the job failed', 20_000, async () => (await env.queue.getJobState(jobId!)) === 'failed');
    await waitForOutput(last, /dead letter not recorded; the sweep will add it/);
    await until('a dead letter', 20_000, async () => (await env.store.deadLetters.countDocuments({ jobId })) === 1);

    const job = (await env.queue.getJob(jobId!))!;
    const letter = await env.store.deadLetters.findOne({ jobId });
    console.log('[stalled-limit]', JSON.stringify({ workersKilled: 2, cutsOnTheWire: proxy.cuts(), attemptsStarted: job.attemptsStarted, failedReason: job.failedReason, deadLetter: letter && { errorCode: letter.errorCode, recordedBy: letter.recordedBy, attempts: letter.attempts } }));

    expect(job.failedReason).toMatch(/stalled more than allowable limit/);
    expect(letter).toMatchObject({ errorCode: 'JOB_STALLED_LIMIT', recordedBy: 'sweep', patientId: 801 });
    expect(letter!.replayedAt ?? null).toBeNull();
  });
});
