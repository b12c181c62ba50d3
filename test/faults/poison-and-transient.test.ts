import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultEnv, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';

// The worker reaches FerretDB through a proxy that can cut a connection instead of forwarding a
// chosen command: the write never reaches the server and the driver sees a network error.
let proxy: MongoProxy;
let env: FaultEnv;
beforeAll(async () => {
  env = await createFaultEnv({ workerEnv: { JOB_BACKOFF_MS: '200', MONGO_TIMEOUT_MS: '3000' } });
  proxy = await startMongoProxy(env.config.MONGO_URL);
  env.startWorker({ MONGO_URL: proxy.url });
});
afterAll(async () => {
  await env.close();
  await proxy.close();
});

const settled = (jobId: string) => async () => ['completed', 'failed'].includes(await env.queue.getJobState(jobId));

describe('fault: poison input and transient write failures', () => {
  it('when another producer enqueues invalid or hostile records directly, then each is dead-lettered after exactly 1 attempt and nothing is stored', { timeout: 60_000 }, async () => {
    const secret = 'POISON-VALUE-' + Math.random().toString(36).slice(2);
    const [invalid, malformed, hostile] = await env.enqueue([
      { patient: { id: 501, isactive: secret, fullname: 'x'.repeat(300) }, receivedAt: Date.now() },
      { not: 'a patient job' } as never,
      { patient: { id: 'x', $where: 'sleep(1)', 'a.b': 1 } } as never, // keys no document may hold
    ]);
    await until('the poison jobs failed', 30_000, async () => (await settled(invalid!)()) && (await settled(malformed!)()) && (await settled(hostile!)()));

    const jobs = await Promise.all([invalid!, malformed!, hostile!].map((id) => env.queue.getJob(id)));
    const letters = await env.store.deadLetters.find({}).sort({ jobId: 1 }).toArray();
    const summary = letters.map((l) => ({ jobId: l.jobId, errorCode: l.errorCode, attempts: l.attempts, patientId: l.patientId }));
    console.log('[poison]', JSON.stringify({ enqueued: 3, states: await Promise.all(jobs.map((j) => j!.getState())), attemptsMade: jobs.map((j) => j!.attemptsMade), deadLetters: summary, storedDocs: await env.store.patients.countDocuments() }));

    for (const job of jobs) {
      expect(await job!.getState()).toBe('failed');
      expect(job!.attemptsMade).toBe(1);
    }
    expect(summary).toEqual([
      { jobId: invalid, errorCode: 'PATIENT_INVALID', attempts: 1, patientId: 501 },
      { jobId: malformed, errorCode: 'JOB_MALFORMED', attempts: 1, patientId: null },
      { jobId: hostile, errorCode: 'JOB_MALFORMED', attempts: 1, patientId: null },
    ]);
    expect(JSON.parse(letters[2]!.dataJson!)).toEqual({ patient: { id: 'x', $where: 'sleep(1)', 'a.b': 1 } }); // kept as text
    expect(letters[0]!.errorMessage).toMatch(/isactive/);
    expect(letters[0]!.data).toMatchObject({ patient: { isactive: secret } }); // kept for replay
    expect(JSON.stringify([jobs.map((j) => j!.failedReason), letters.map((l) => l.errorMessage)])).not.toContain(secret);
    expect(await env.store.patients.countDocuments({ _id: 501 })).toBe(0);
  });

  it('when the write of a job is cut off on the wire twice and then goes through, then the record is stored after 3 attempts', { timeout: 60_000 }, async () => {
    proxy.cutNext(2, (cmd) => ['insert', 'update'].includes(cmd.name) && cmd.collection === 'patients');
    const [jobId] = await env.enqueue([patientVersion(502, 1)]);
    await until('the job settled', 45_000, settled(jobId!));

    const job = (await env.queue.getJob(jobId!))!;
    const stored = await env.store.patients.findOne({ _id: 502 });
    console.log('[transient]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, cutsOnTheWire: proxy.cuts(), outcome: job.returnvalue?.outcome, storedAttempt: stored?._ingest.attempt, storedDocs: await env.store.patients.countDocuments({ _id: 502 }) }));

    expect(proxy.cuts()).toBe(2);
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(3);
    expect(job.returnvalue).toEqual({ outcome: 'inserted', patientId: 502 });
    expect(stored?._ingest).toMatchObject({ jobId, attempt: 3 });
    expect(await env.store.deadLetters.countDocuments({ jobId })).toBe(0);
  });

  it('when a job fails for good while its dead letter cannot be written, then it is not failed until the letter is kept', { timeout: 60_000 }, async () => {
    proxy.cutNext(2, (cmd) => cmd.name === 'update' && cmd.collection === 'dead_letters');
    const [jobId] = await env.enqueue([{ patient: { id: 503, isactive: 'x' }, receivedAt: Date.now() }]);
    await until('the job settled', 45_000, settled(jobId!));

    const job = (await env.queue.getJob(jobId!))!;
    const letter = await env.store.deadLetters.findOne({ jobId });
    console.log('[dead-letter-outage]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, attemptsStarted: job.attemptsStarted, cutsOnTheWire: proxy.cuts(), deadLetter: letter && { errorCode: letter.errorCode, attempts: letter.attempts } }));

    expect(proxy.cuts()).toBe(2 + 2);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1); // the runs that could not keep the letter spent no attempt
    expect(job.attemptsStarted).toBe(3);
    expect(letter).toMatchObject({ errorCode: 'PATIENT_INVALID', attempts: 1, patientId: 503 });
  });
});
