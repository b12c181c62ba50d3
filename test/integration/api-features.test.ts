import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { openProducer } from '../../src/shared/connections.ts';
import { startMongoProxy } from '../support/fault-proxy.ts';
import { captureLogger } from '../support/harness.ts';
import { PATIENT_FIELD_NAMES, SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { post } from '../support/http.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ API_BATCH_MAX: '1000' });
  h.startWorker();
});
afterAll(() => h.close());

const jobCount = () => h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');

describe('synchronous mode (Prefer: wait)', () => {
  it('when the seed is posted with Prefer: wait=20, then 201 the first time and 200 the second, in the seed shape', async () => {
    const first = await post(h.app, SEED_SAMPLE, { headers: { prefer: 'wait=20' } });
    expect(first.statusCode).toBe(201);
    expect(first.headers['preference-applied']).toBe('wait=20');
    expect(first.headers.location).toBe('/api/patients/1');
    expect(Object.keys(first.json())).toEqual(PATIENT_FIELD_NAMES);
    expect(first.json()).toMatchObject({ ...SEED_SAMPLE, create_time: '2025-10-31T19:55:09.1380000+07:00', modify_time: '2025-10-31T19:55:09.1380000+07:00', followup_date: '2025-10-31T19:55:09.1530000+07:00' });

    const second = await post(h.app, { ...SEED_SAMPLE, fullname: 'second' }, { headers: { prefer: 'respond-async, wait=20' } });
    expect(second.statusCode).toBe(200);
    expect(second.headers['x-ingest-outcome']).toBe('updated');
    expect(second.json().fullname).toBe('second');
  });

  it('when no worker runs and Prefer: wait=1 is asked, then the normal 202 comes back and the record waits in the queue', async () => {
    // A harness of its own without a worker: the file's shared worker is never stopped and restarted
    // (a restarted worker connects and ensures its indexes again before it takes a job, which the
    // next test's wait would pay for).
    const idle = await createHarness();
    try {
      const res = await post(idle.app, { ...SEED_SAMPLE, id: 900 }, { headers: { prefer: 'wait=1' } });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.headers['preference-applied']).toBe('wait=1');
      expect(res.json()).toMatchObject({ status: 'queued' });
      expect((await idle.recordResult(res.json().jobId)).jobState).toBe('waiting');
    } finally {
      await idle.close();
    }
  });
});

describe('synchronous mode while the database does not answer', () => {
  it('when the database holds the read-back of the stored record, then Prefer: wait=10 still answers the 202 while it is held, and the worker has stored the record; the same when only the access-audit entry is held', { timeout: 60_000 }, async () => {
    // The API reads through a proxy that holds its `find`s on patients; the file's worker writes
    // directly. The driver's own timeouts are far longer than the test: only the wait's bound (the
    // seconds asked for plus READ_BACK_MS) can end the request.
    const proxy = await startMongoProxy(h.config.MONGO_URL);
    const config = { ...h.config, MONGO_URL: proxy.url, MONGO_TIMEOUT_MS: 120_000 };
    const producer = openProducer(config, { queueEvents: true });
    const app = await buildApp({ config, logger: captureLogger('api').logger, queues: producer.queues, redis: producer.redis, store: producer.store, queueEvents: producer.queueEvents });
    try {
      expect((await post(app, { ...SEED_SAMPLE, id: 950 }, { headers: { prefer: 'wait=20' } })).statusCode).toBe(201); // the read-back path works
      proxy.hold(true, (cmd) => cmd.name === 'find' && cmd.collection === 'patients');
      const res = await post(app, { ...SEED_SAMPLE, id: 951 }, { headers: { prefer: 'wait=10' } });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.headers['preference-applied']).toBe('wait=10');
      expect(res.json()).toMatchObject({ status: 'queued' });
      // The record was stored and its read-back reached the database, where it still waits.
      expect(proxy.held(), 'the read-back of 951 is held at the proxy').toBeGreaterThan(0);
      expect(await h.store.patients.countDocuments({ id: 951 })).toBe(1);
      // The record is found, but its access-audit entry cannot be written: no record goes out unaudited.
      proxy.hold(false);
      proxy.hold(true, (cmd) => cmd.name === 'insert' && cmd.collection === 'access_audit');
      const unaudited = await post(app, { ...SEED_SAMPLE, id: 952 }, { headers: { prefer: 'wait=10' } });
      expect(unaudited.statusCode, unaudited.body).toBe(202);
      expect(unaudited.json()).not.toHaveProperty('hn');
      expect(proxy.held(), 'the audit entry of 952 is held at the proxy').toBeGreaterThan(0);
    } finally {
      proxy.hold(false);
      await app.close();
      await producer.close();
      await proxy.close();
    }
  });
});

describe('GET /api/patients/{id}', () => {
  it('when the patient is stored, then it comes back in the seed shape; when absent, 404 problem', async () => {
    const stored = await post(h.app, { ...SEED_SAMPLE, id: 10 }, { headers: { prefer: 'wait=20' } });
    expect(stored.statusCode, stored.body).toBe(201);
    const found = await h.app.inject({ method: 'GET', url: '/api/patients/10' });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ id: 10, hn: SEED_SAMPLE.hn, modify_time: '2025-10-31T19:55:09.1380000+07:00' });
    const missing = await h.app.inject({ method: 'GET', url: '/api/patients/424242' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/problem\+json/);
    const bad = await h.app.inject({ method: 'GET', url: '/api/patients/abc' });
    expect(bad.statusCode).toBe(400);
  });

  it('when a patient of a center with a negative id is stored, then ?center_id= with that id finds it (the field allows any 32-bit integer)', async () => {
    const stored = await post(h.app, { ...SEED_SAMPLE, id: 11, center_id: -2147483648, cluster_id: null }, { headers: { prefer: 'wait=20' } });
    expect(stored.statusCode, stored.body).toBe(201);
    const found = await h.app.inject({ method: 'GET', url: '/api/patients/11?center_id=-2147483648' });
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json()).toMatchObject({ id: 11, center_id: -2147483648 });
    for (const bad of ['-2147483649', '2147483648', '1.5', '-']) {
      expect((await h.app.inject({ method: 'GET', url: `/api/patients/11?center_id=${bad}` })).statusCode, bad).toBe(400);
    }
  });
});

describe('Idempotency-Key', () => {
  it('when the same key comes with the same body, then the first answer is replayed and nothing new is enqueued', async () => {
    const body = { ...SEED_SAMPLE, id: 20 };
    const first = await post(h.app, body, { headers: { 'idempotency-key': 'k-20' } });
    const before = await jobCount();
    const again = await post(h.app, body, { headers: { 'idempotency-key': 'k-20' } });
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await jobCount()).toBe(before);
  });

  it('when the same key comes with a different body, then 422 and nothing is enqueued', async () => {
    await post(h.app, { ...SEED_SAMPLE, id: 21 }, { headers: { 'idempotency-key': 'k-21' } });
    const before = await jobCount();
    const other = await post(h.app, { ...SEED_SAMPLE, id: 21, fullname: 'other' }, { headers: { 'idempotency-key': 'k-21' } });
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await jobCount()).toBe(before);
  });

  it('when the same key comes again while the first request is still being enqueued, then 409 and only the first is enqueued', async () => {
    const body = { ...SEED_SAMPLE, id: 23 };
    const before = await jobCount();
    // Both requests are in the API at once: the second finds the key claimed and not yet answered.
    const answers = await Promise.all([1, 2].map(() => post(h.app, body, { headers: { 'idempotency-key': 'k-23' } })));
    expect(answers.map((a) => a.statusCode).sort(), answers.map((a) => a.body).join('\n')).toEqual([202, 409]);
    const conflict = answers.find((a) => a.statusCode === 409)!;
    expect(conflict.headers['content-type']).toMatch(/problem\+json/);
    expect(conflict.json()).toMatchObject({ status: 409, code: 'IDEMPOTENCY_IN_PROGRESS' });
    expect(await jobCount()).toBe(before + 1);
    // Once the first has its answer, the key replays it.
    const later = await post(h.app, body, { headers: { 'idempotency-key': 'k-23' } });
    expect(later.headers['idempotent-replayed']).toBe('true');
    expect(later.json()).toEqual(answers.find((a) => a.statusCode === 202)!.json());
  });

  it('when no key is sent, then each post is a new job', async () => {
    const a = await post(h.app, { ...SEED_SAMPLE, id: 22 });
    const b = await post(h.app, { ...SEED_SAMPLE, id: 22 });
    expect(a.json().jobId).not.toBe(b.json().jobId);
  });
});

describe('POST /api/patients/batch', () => {
  it('when 1000 patients come with 10 invalid, then 990 are stored and the 10 are reported by index', { timeout: 90_000 }, async () => {
    const bad = new Set([0, 7, 99, 100, 333, 500, 501, 777, 998, 999]);
    const items = Array.from({ length: 1000 }, (_, i) => (bad.has(i) ? { ...SEED_SAMPLE, id: 5000 + i, isactive: 500 } : { ...SEED_SAMPLE, id: 5000 + i }));
    const res = await post(h.app, items, { url: '/api/patients/batch' });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 990, rejected: 10 });
    expect(body.results).toHaveLength(1000);
    const rejected = body.results.filter((r: { errors?: unknown }) => r.errors);
    expect(rejected.map((r: { index: number }) => r.index)).toEqual([...bad].sort((a, b) => a - b));
    expect(rejected[0].errors).toEqual([{ path: 'isactive', message: expect.stringMatching(/-128 to 127/) }]);
    const stored = () => h.store.patients.countDocuments({ id: { $gte: 5000, $lt: 6000 } });
    await until('990 stored', 60_000, async () => (await stored()) >= 990, 100, async () => ({ stored: await stored(), counts: await h.queue.getJobCounts() }));
    expect(await stored()).toBe(990);
    expect(await h.queue.getJobCountByTypes('failed')).toBe(0);
  });

  it('when NDJSON has a broken line, then that line is reported and the others accepted', async () => {
    const lines = [JSON.stringify({ ...SEED_SAMPLE, id: 7001 }), '{"id": 7002,', JSON.stringify({ ...SEED_SAMPLE, id: 7003 })].join('\n');
    const res = await h.app.inject({ method: 'POST', url: '/api/patients/batch', payload: lines, headers: { 'content-type': 'application/x-ndjson' } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: 1, results: [{ index: 0 }, { index: 1, errors: [{ path: '(line)' }] }, { index: 2 }] });
  });

  it('when the batch is larger than allowed or not an array, then a 4xx problem and nothing is enqueued', async () => {
    const before = await jobCount();
    const big = await post(h.app, Array.from({ length: 1001 }, (_, i) => ({ id: i + 1 })), { url: '/api/patients/batch' });
    expect(big.statusCode).toBe(413);
    const notArray = await post(h.app, SEED_SAMPLE, { url: '/api/patients/batch' });
    expect(notArray.statusCode).toBe(400);
    const allBad = await post(h.app, [{ fullname: 'x' }], { url: '/api/patients/batch' });
    expect(allBad.statusCode).toBe(400);
    expect(allBad.headers['content-type']).toMatch(/problem\+json/);
    expect(await jobCount()).toBe(before);
  });
});
