import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';
import { auditEntries } from '../../src/worker/audit.ts';
import { createFaultEnv, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';
import { refParts } from '../support/records.ts';
import { seedKey } from '../support/patient-docs.ts';

// One attempt per job (JOB_ATTEMPTS=1), so every run is the last: when the audit entry of that run
// cannot be inserted (cut on the wire), the entry must still end up in `audit`, and a record that
// was written must not be failed or dead-lettered for it.
let proxy: MongoProxy;
let env: FaultEnv;
beforeAll(async () => {
  proxy = await startMongoProxy(inject('mongoUrl'));
  env = await createFaultEnv({ workerEnv: { JOB_ATTEMPTS: '1', JOB_BACKOFF_MS: '200', MONGO_TIMEOUT_MS: '2000' } });
  env.startWorker({ MONGO_URL: proxy.url });
});
afterAll(async () => {
  await env?.close();
  await proxy?.close();
});

const settled = (ref: string) => async () => ['completed', 'failed'].includes(await env.queue.getJobState(refParts(ref).jobId));
const auditCut = () => proxy.cutNext(2, (cmd) => cmd.name === 'insert' && cmd.collection === 'audit');

describe('fault: the audit entry of a job\'s last attempt cannot be inserted', () => {
  it('when a stored record\'s audit insert is cut twice, then the job still completes (no attempt spent, no dead letter) and its audit entry exists', { timeout: 60_000 }, async () => {
    const before = proxy.cuts();
    auditCut();
    const [jobId] = await env.enqueue([patientVersion(701, 1)]);
    await until('the job settled', 45_000, settled(jobId!));
    const job = (await env.queue.getJob(refParts(jobId!).jobId))!;
    const entries = await auditEntries(env.store.audit, { jobId });
    console.log('[audit/stored]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, cuts: proxy.cuts() - before, audit: entries.map((e) => e.action) }));

    expect(proxy.cuts() - before).toBe(2);
    expect(await job.getState()).toBe('completed');
    expect(await env.store.deadLetters.countDocuments({ jobId })).toBe(0);
    expect(await env.store.patients.countDocuments({ _id: seedKey(701) })).toBe(1);
    expect(job.returnvalue.results).toEqual([{ outcome: 'inserted', patientId: 701 }]);
    // Exactly one entry (issue 22: this accepted duplicates); the trail's _id makes a rewrite a no-op (audit.ts).
    expect(entries.map((e) => [e.action, e.patientId])).toEqual([['inserted', 701]]);
  });

  it('when a rejected record\'s audit insert is cut twice, then its job completes only once both its dead letter and its "rejected" audit entry are stored', { timeout: 60_000 }, async () => {
    const before = proxy.cuts();
    auditCut();
    const [jobId] = await env.enqueue([{ patient: { id: 702, isactive: 'x' }, receivedAt: Date.now() }]);
    await until('the job settled', 45_000, settled(jobId!));
    const job = (await env.queue.getJob(refParts(jobId!).jobId))!;
    const entries = await auditEntries(env.store.audit, { jobId });
    console.log('[audit/rejected]', JSON.stringify({ state: await job.getState(), attemptsMade: job.attemptsMade, cuts: proxy.cuts() - before, audit: entries.map((e) => [e.action, e.code]) }));

    expect(proxy.cuts() - before).toBe(2);
    // A poison record never fails its job: the job completes with the record's result `rejected`.
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue.results[0]).toMatchObject({ outcome: 'rejected', code: 'PATIENT_INVALID' });
    expect(await env.store.deadLetters.countDocuments({ jobId })).toBe(1);
    expect(entries.map((e) => [e.action, e.code])).toEqual([['rejected', 'PATIENT_INVALID']]);
  });
});
