import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeadLetterCommand } from '../../src/worker/dead-letters/dead-letter-command.ts';
import { makeCanary, withCanary as canaryPatient } from '../support/canary.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { post } from '../support/http.ts';

// One unique canary value sent through every path a record can take: stored, refused by the API,
// refused by the worker, dead-lettered, listed to ops. It may live in MongoDB (that is the data),
// and nowhere else: not in logs, error bodies, job failure reasons, dead-letter summaries or metrics.
// Spans: test/integration/tracing.test.ts.
const CANARY = makeCanary();
let h: Harness;
const seen: string[] = [];
const look = (where: string, text: string) => seen.push(`${where}\n${text}`);

beforeAll(async () => {
  h = await createHarness();
  h.startWorker();
});
afterAll(() => h.close());

describe('patient values never leave the data', () => {
  it('when a canary goes through every path, then it appears in no log, error body, failure reason, summary or metric', async () => {
    const withCanary = canaryPatient(CANARY);

    // 1. success, synchronously and not
    const ok = await post(h.app, { ...withCanary, id: 101 }, { headers: { prefer: 'wait=20', 'idempotency-key': 'canary-1' } });
    expect(ok.statusCode).toBe(201);
    // (the stored record is the one answer that should carry it)
    expect(ok.body).toContain(CANARY);
    const async202 = await post(h.app, { ...withCanary, id: 102 });
    look('202 body', async202.body);

    // 2. refused by the API: invalid fields that hold the canary themselves
    for (const bad of [{ fullname: `${CANARY}\u0001` }, { hn: CANARY.repeat(40) }, { create_time: CANARY }, { isactive: CANARY }, { id: CANARY }]) {
      const res = await post(h.app, { ...withCanary, id: 103, ...bad });
      expect(res.statusCode).toBe(400);
      look('400 body', res.body);
    }
    look('batch body', (await post(h.app, [{ ...withCanary, id: 104 }, { ...withCanary, order: CANARY }], { url: '/api/patients/batch' })).body);
    look('422 idempotency body', (await post(h.app, { ...withCanary, id: 101, fullname: 'other' }, { headers: { 'idempotency-key': 'canary-1' } })).body);
    look('invalid JSON body', (await h.app.inject({ method: 'POST', url: '/api/patients', payload: `{"fullname":"${CANARY}",`, headers: { 'content-type': 'application/json' } })).body);

    // 3. refused by the worker: a record another producer put straight into the queue, in a job
    //    with a valid neighbour (which is stored: a poison record does not fail its job)
    const [poison, neighbour] = await h.enqueueJob([
      { patient: { id: 105, fullname: `${CANARY}\u0007`, hn: CANARY, isactive: CANARY }, receivedAt: Date.now() },
      { patient: { ...withCanary, id: 106 }, receivedAt: Date.now() },
    ]);
    const { state, job, result } = await h.settled(poison!);
    expect(state).toBe('failed');
    expect(result).toMatchObject({ outcome: 'rejected', code: 'PATIENT_INVALID', patientId: 105 });
    expect((await h.settled(neighbour!)).result).toEqual({ outcome: 'inserted', patientId: 106 });
    look('job result', `${JSON.stringify(job.returnvalue)}\n${job.failedReason ?? ''}\n${(job.stacktrace ?? []).join('\n')}`);
    look('job status body', (await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${poison}` })).body);

    // 4. dead letters as ops see them (written before the job completed)
    expect(await h.store.deadLetters.countDocuments({ jobId: poison })).toBe(1);
    expect(await h.store.deadLetters.countDocuments()).toBe(1);
    const env = { REDIS_URL: h.config.REDIS_URL, MONGO_URL: h.config.MONGO_URL, MONGO_DB: h.config.MONGO_DB, QUEUE_NAME: h.config.QUEUE_NAME };
    for (const args of [['list'], ['list', '--json', '--all']]) {
      let out = '';
      expect(await runDeadLetterCommand(args, env, (t) => (out += t), (t) => (out += t))).toBe(0);
      expect(out).toContain(poison);
      look(`dead-letters ${args.join(' ')}`, out);
    }

    // 5. metrics, then everything logged along the way
    look('api metrics', (await h.app.inject({ method: 'GET', url: '/metrics' })).body);
    const completed = await h.queue.getJobs(['completed', 'failed'], 0, 1000);
    look('all results and failure reasons in Redis', completed.map((j) => `${JSON.stringify(j.returnvalue)} ${j.failedReason ?? ''} ${j.stacktrace?.join(' ') ?? ''}`).join('\n'));
    look('api logs', h.apiLogs.text());
    look('worker logs', h.workerLogs.text());

    expect(seen.length).toBeGreaterThan(12);
    for (const text of seen) expect(text, text.split('\n')[0]).not.toContain(CANARY);
    console.log(`canary checked in ${seen.length} places: absent from all; present in the stored record and its dead letter only`);
  });
});
