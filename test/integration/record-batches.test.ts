import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { seedKey } from '../support/patient-docs.ts';
import { post } from '../support/http.ts';

// Issue 9: a queue job is a batch of records. Concurrent single requests share a job, a big batch
// request is split into jobs of at most JOB_MAX_RECORDS, and every record keeps its own status
// reference and outcome; a poison record never fails its neighbours.

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ API_BATCH_MAX: '1500', JOB_MAX_RECORDS: '500', RATE_LIMIT_MAX: '100000' });
  h.startWorker();
});
afterAll(() => h.close());

const STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'] as const;
const jobCount = () => h.queue.getJobCountByTypes(...STATES);
const status = async (url: string) => (await h.app.inject({ method: 'GET', url })).json() as { jobId: string; state: string; outcome: string | null; patientId: number | null; error: string | null };

/**
 * Polls every status URL until none is queued or active; fails with the ones still pending. A
 * settled answer is taken as final: 'stored' must already name the record's outcome.
 */
async function finalStatuses(urls: string[], timeoutMs = 60_000) {
  const answers = new Map<string, Awaited<ReturnType<typeof status>>>();
  const pending = () => urls.filter((u) => !answers.has(u));
  await until(`${urls.length} records settled`, timeoutMs, async () => {
    for (const url of pending()) {
      const s = await status(url);
      if (s.state !== 'queued' && s.state !== 'active') answers.set(url, s);
      else break; // still running: ask again on the next round
    }
    return pending().length === 0;
  }, 50, async () => ({ pending: pending().length, first: pending()[0], firstStatus: pending()[0] && (await status(pending()[0]!)) }));
  return urls.map((u) => answers.get(u)!);
}

describe('records coalesced into jobs', () => {
  it('when 40 single POSTs arrive together, then they share fewer jobs than requests and each status URL answers its own record', async () => {
    const before = await jobCount();
    const ids = Array.from({ length: 40 }, (_, i) => 100 + i);
    const answers = await Promise.all(ids.map((id) => post(h.app, { ...SEED_SAMPLE, id })));
    const jobs = (await jobCount()) - before;
    console.log('[coalesce]', JSON.stringify({ requests: ids.length, jobs }));

    expect(answers.map((a) => a.statusCode)).toEqual(ids.map(() => 202));
    const urls = answers.map((a) => a.json().statusUrl as string);
    expect(new Set(urls).size).toBe(ids.length); // each record its own reference
    for (const a of answers) expect(a.headers.location).toBe(a.json().statusUrl);
    expect(jobs).toBeGreaterThanOrEqual(1);
    expect(jobs).toBeLessThan(ids.length);

    const final = await finalStatuses(urls);
    expect(final.map((s) => [s.patientId, s.state, s.outcome])).toEqual(ids.map((id) => [id, 'stored', 'inserted']));
    expect(await h.store.patients.countDocuments({ id: { $gte: 100, $lt: 140 } })).toBe(40);
  });

  it('when a batch of 1200 is posted, then it becomes ceil(1200/500) = 3 jobs and each item\'s status is its own', { timeout: 120_000 }, async () => {
    const before = await jobCount();
    const items = Array.from({ length: 1200 }, (_, i) => ({ ...SEED_SAMPLE, id: 10_000 + i }));
    const res = await post(h.app, items, { url: '/api/patients/batch' });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { accepted: number; rejected: number; results: { index: number; jobId: string; statusUrl: string }[] };
    expect(body).toMatchObject({ accepted: 1200, rejected: 0 });
    expect(body.results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    expect(new Set(body.results.map((r) => r.statusUrl)).size).toBe(1200);
    expect(await jobCount()).toBe(before + 3);
    const added = (await h.queue.getJobs([...STATES], 0, -1)).filter((j) => j.data.records.some((r) => Number(r.patient.id) >= 10_000));
    expect(added.map((j) => j.data.records.length).sort((a, b) => a - b)).toEqual([200, 500, 500]);

    const final = await finalStatuses(body.results.map((r) => r.statusUrl), 90_000);
    const wrong = final.filter((s, i) => s.patientId !== 10_000 + i || s.state !== 'stored' || s.outcome !== 'inserted');
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(final.map((s, i) => s.jobId === body.results[i]!.jobId).every(Boolean)).toBe(true);
    expect(await h.store.patients.countDocuments({ id: { $gte: 10_000, $lt: 11_200 } })).toBe(1200);
  });
});

describe('a poison record inside a job', () => {
  it('when a job holds one invalid record among valid ones, then the valid ones are stored, the invalid one alone is dead-lettered, and the job completes', async () => {
    const lettersBefore = await h.store.deadLetters.countDocuments();
    const refs = await h.enqueueJob([
      { patient: { ...SEED_SAMPLE, id: 201 }, receivedAt: Date.now() },
      { patient: { ...SEED_SAMPLE, id: 202, isactive: 999 }, receivedAt: Date.now() },
      { patient: { ...SEED_SAMPLE, id: 203 }, receivedAt: Date.now() },
    ]);
    const settled = await Promise.all(refs.map((r) => h.settled(r)));
    const job = settled[0]!.job;

    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(1);
    expect(settled.map((s) => [s.state, s.result?.outcome])).toEqual([['completed', 'inserted'], ['failed', 'rejected'], ['completed', 'inserted']]);
    expect(await h.store.patients.find({ _id: { $in: [201, 202, 203].map(seedKey) } }).map((d) => [d.id, d._ingest.jobId]).toArray()).toEqual([[201, refs[0]], [203, refs[2]]]);
    expect(await h.store.deadLetters.countDocuments()).toBe(lettersBefore + 1);
    expect(await h.store.deadLetters.findOne({ jobId: refs[1] })).toMatchObject({ errorCode: 'PATIENT_INVALID', patientId: 202, attempts: 1 });

    // Each record's status URL answers its own state; a plain job id is its record 0.
    expect(await status(`/api/patients/jobs/${refs[1]}`)).toMatchObject({ state: 'failed', outcome: null, patientId: 202, error: expect.stringMatching(/^PATIENT_INVALID: .*isactive/) });
    expect(await status(`/api/patients/jobs/${refs[2]}`)).toMatchObject({ state: 'stored', outcome: 'inserted', patientId: 203, error: null });
    expect(await status(`/api/patients/jobs/${job.id}`)).toMatchObject({ state: 'stored', patientId: 201 });
    expect((await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${job.id}-3` })).statusCode).toBe(404); // no record 3
  });
});
