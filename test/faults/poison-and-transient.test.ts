import { auditEntries } from '../../src/worker/audit.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueSettings } from '../../src/shared/queue.ts';
import { createFaultEnv, refParts, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';
import { seedKey } from '../support/patient-docs.ts';

// The worker reaches FerretDB through a proxy that can cut a connection instead of forwarding a
// chosen command: the write never reaches the server and the driver sees a network error.
// On MongoDB (the testcontainers path) the driver retries a write cut on the wire once by itself
// (retryable writes); FerretDB v1 has none: there each cut costs the job an attempt.
let proxy: MongoProxy;
let env: FaultEnv;
let cutsPerAttempt = 1;
beforeAll(async () => {
  env = await createFaultEnv({ workerEnv: { JOB_BACKOFF_MS: '200', MONGO_TIMEOUT_MS: '3000' } });
  cutsPerAttempt = 'ferretdbVersion' in (await env.store.db.admin().command({ buildInfo: 1 })) ? 1 : 2;
  proxy = await startMongoProxy(env.config.MONGO_URL);
  env.startWorker({ MONGO_URL: proxy.url });
});
afterAll(async () => {
  await env.close();
  await proxy.close();
});

const settled = (jobId: string) => async () => ['completed', 'failed'].includes(await env.queue.getJobState(jobId));
const jobOf = (ref: string) => refParts(ref).jobId;

describe('fault: poison input and transient write failures', () => {
  it('when another producer enqueues invalid or hostile records directly, then each is dead-lettered after exactly 1 attempt, nothing of theirs is stored, and their valid neighbour in the job is', { timeout: 60_000 }, async () => {
    const secret = 'POISON-VALUE-' + Math.random().toString(36).slice(2);
    const refs = await env.enqueue(
      [
        { patient: { id: 501, isactive: secret, fullname: 'x'.repeat(300) }, receivedAt: Date.now() },
        { not: 'a patient job' } as never,
        { patient: { id: 'x', $where: 'sleep(1)', 'a.b': 1 } } as never, // keys no document may hold
        patientVersion(504, 1),
      ],
      { perJob: 4 },
    );
    const [invalid, malformed, hostile, neighbour] = refs as [string, string, string, string];
    const jobId = jobOf(invalid);
    await until('the job settled', 30_000, settled(jobId), 100, () => env.counts());

    const job = (await env.queue.getJob(jobId))!;
    const letters = await env.store.deadLetters.find({}).sort({ jobId: 1 }).toArray();
    const summary = letters.map((l) => ({ jobId: l.jobId, errorCode: l.errorCode, attempts: l.attempts, patientId: l.patientId }));
    const results = job.returnvalue?.results ?? [];
    console.log('[poison]', JSON.stringify({ enqueued: refs.length, jobs: new Set(refs.map(jobOf)).size, state: await job.getState(), attemptsMade: job.attemptsMade, outcomes: results.map((r) => r.outcome), deadLetters: summary, storedDocs: await env.store.patients.countDocuments() }));

    expect(new Set(refs.map(jobOf)).size).toBe(1); // all four in one job
    expect(await job.getState()).toBe('completed'); // a poison record does not fail its job
    expect(job.attemptsMade).toBe(1);
    expect(results.map((r) => [r.outcome, r.code])).toEqual([['rejected', 'PATIENT_INVALID'], ['rejected', 'JOB_MALFORMED'], ['rejected', 'JOB_MALFORMED'], ['inserted', undefined]]);
    expect(summary).toEqual([
      { jobId: invalid, errorCode: 'PATIENT_INVALID', attempts: 1, patientId: 501 },
      { jobId: malformed, errorCode: 'JOB_MALFORMED', attempts: 1, patientId: null },
      { jobId: hostile, errorCode: 'JOB_MALFORMED', attempts: 1, patientId: null },
    ]);
    expect(JSON.parse(letters[2]!.dataJson!)).toEqual({ patient: { id: 'x', $where: 'sleep(1)', 'a.b': 1 } }); // kept as text
    expect(letters[0]!.errorMessage).toMatch(/isactive/);
    expect(letters[0]!.data).toMatchObject({ patient: { isactive: secret } }); // kept for replay
    expect(JSON.stringify([job.returnvalue, job.failedReason, letters.map((l) => l.errorMessage)])).not.toContain(secret);
    expect(await env.store.patients.countDocuments({ _id: seedKey(501) })).toBe(0);
    expect(await env.store.patients.findOne({ _id: seedKey(504) })).toMatchObject({ fullname: 'patient 504 version 1', _ingest: { jobId: neighbour, attempt: 1 } });
  });

  it('when the write of a job is cut off on the wire in two attempts and then goes through, then the record is stored by the third', { timeout: 60_000 }, async () => {
    const cutsBefore = proxy.cuts();
    proxy.cutNext(2 * cutsPerAttempt, (cmd) => ['insert', 'update'].includes(cmd.name) && cmd.collection === 'patients');
    const [ref] = (await env.enqueue([patientVersion(502, 1)])) as [string];
    await until('the job settled', 45_000, settled(jobOf(ref)), 100, () => env.counts());

    const job = (await env.queue.getJob(jobOf(ref)))!;
    const stored = await env.store.patients.findOne({ _id: seedKey(502) });
    console.log('[transient]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, cutsOnTheWire: proxy.cuts(), results: job.returnvalue?.results, storedAttempt: stored?._ingest.attempt, storedDocs: await env.store.patients.countDocuments({ _id: seedKey(502) }) }));

    expect(proxy.cuts() - cutsBefore).toBe(2 * cutsPerAttempt);
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(3);
    expect(job.returnvalue.results).toEqual([{ outcome: 'inserted', patientId: 502 }]);
    expect(stored?._ingest).toMatchObject({ jobId: ref, attempt: 3 });
    expect(await env.store.deadLetters.countDocuments({ jobId: ref })).toBe(0);
  });

  it('when a record is refused for good while its dead letter cannot be written, then it is not refused until the letter is kept, and its neighbour keeps its first outcome', { timeout: 60_000 }, async () => {
    const cutsBefore = proxy.cuts();
    proxy.cutNext(2 * cutsPerAttempt, (cmd) => cmd.name === 'update' && cmd.collection === 'dead_letters');
    const [poison, neighbour] = (await env.enqueue([{ patient: { id: 503, isactive: 'x' }, receivedAt: Date.now() }, patientVersion(505, 1)], { perJob: 2 })) as [string, string];
    await until('the job settled', 45_000, settled(jobOf(poison)), 100, () => env.counts());

    const job = (await env.queue.getJob(jobOf(poison)))!;
    const letter = await env.store.deadLetters.findOne({ jobId: poison });
    const stored = await env.store.patients.findOne({ _id: seedKey(505) });
    const audit = (await auditEntries(env.store.audit, { patientId: { $in: [503, 505] } })).map(({ jobId, action }) => ({ jobId, action })).sort((a, b) => a.jobId.localeCompare(b.jobId));
    console.log('[dead-letter-outage]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, attemptsStarted: job.attemptsStarted, cutsOnTheWire: proxy.cuts(), results: job.returnvalue?.results, deadLetter: letter && { errorCode: letter.errorCode, attempts: letter.attempts }, audit }));

    expect(proxy.cuts() - cutsBefore).toBe(2 * cutsPerAttempt);
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(1); // the runs that could not keep the letter spent no attempt
    expect(job.attemptsStarted).toBe(3);
    expect(letter).toMatchObject({ errorCode: 'PATIENT_INVALID', attempts: 1, patientId: 503 });
    // Written in the first run and kept in the job's progress: not rewritten (not 'unchanged'), audited once.
    expect(job.returnvalue.results).toEqual([{ outcome: 'rejected', patientId: 503, code: 'PATIENT_INVALID', message: expect.stringMatching(/isactive/) }, { outcome: 'inserted', patientId: 505 }]);
    expect(stored?._ingest).toMatchObject({ jobId: neighbour, attempt: 1 });
    expect(audit).toEqual([{ jobId: poison, action: 'rejected' }, { jobId: neighbour, action: 'inserted' }]);
  });

  it('when every attempt of a job loses its write on the wire, then after the last one its undecided records are dead-lettered, the job fails, and the record refused earlier keeps its own letter', { timeout: 60_000 }, async () => {
    const lettersBefore = await env.store.deadLetters.countDocuments();
    proxy.cutNext(2 * cutsPerAttempt, (cmd) => ['insert', 'update'].includes(cmd.name) && cmd.collection === 'patients');
    const jobOptions = { ...queueSettings(env.config).jobOptions, attempts: 2 };
    const refs = (await env.enqueue([{ patient: { id: 506, isactive: 'x' }, receivedAt: Date.now() }, patientVersion(507, 1), patientVersion(508, 1)], { perJob: 3, jobOptions })) as [string, string, string];
    const jobId = jobOf(refs[0]);
    await until('the job settled', 45_000, settled(jobId), 100, () => env.counts());

    const job = (await env.queue.getJob(jobId))!;
    const letters = await env.store.deadLetters.find({ jobId: { $in: refs } }).sort({ jobId: 1 }).toArray();
    const results = await Promise.all(refs.map(async (r) => (await env.recordResult(r)).result));
    console.log('[out-of-attempts]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, cutsOnTheWire: proxy.cuts(), failedReason: job.failedReason, results, deadLetters: letters.map((l) => ({ jobId: l.jobId, errorCode: l.errorCode, attempts: l.attempts, recordedBy: l.recordedBy })) }));

    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toMatch(/^DB_UNAVAILABLE: /);
    expect(letters.map((l) => [l.jobId, l.errorCode, l.attempts, l.patientId])).toEqual([
      [refs[0], 'PATIENT_INVALID', 1, 506], // refused in the first attempt, on its own
      [refs[1], 'DB_UNAVAILABLE', 2, 507],
      [refs[2], 'DB_UNAVAILABLE', 2, 508],
    ]);
    expect(await env.store.deadLetters.countDocuments()).toBe(lettersBefore + 3);
    expect(results.map((r) => [r?.outcome, r?.code])).toEqual([['rejected', 'PATIENT_INVALID'], ['rejected', 'DB_UNAVAILABLE'], ['rejected', 'DB_UNAVAILABLE']]);
    expect(await env.store.patients.countDocuments({ _id: { $in: [506, 507, 508].map(seedKey) } })).toBe(0);
  });
});
