import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { post } from '../support/http.ts';

const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');
const reader = makeKey('center-3-reader', 'patients:read', 'centers=3');
const admin = makeKey('admin', 'admin');
const ops = makeKey('ops', 'ops');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer, reader, admin, ops), RATE_LIMIT_MAX: '1000' });
});
afterAll(() => h.close());

const jobCount = () => h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');

describe('authentication', () => {
  it('when no key or a wrong key is sent, then 401 problem+json with WWW-Authenticate', async () => {
    const before = await jobCount();
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer hk_wrong' }, { 'x-api-key': writer.key.slice(0, -1) }];
    for (const headers of attempts) {
      const res = await post(h.app, SEED_SAMPLE, { headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
    expect(await jobCount()).toBe(before);
  });

  it('when the key comes as Bearer or as X-API-Key, then it is accepted', async () => {
    expect((await post(h.app, SEED_SAMPLE, { headers: bearer(writer) })).statusCode).toBe(202);
    expect((await post(h.app, SEED_SAMPLE, { headers: { 'x-api-key': writer.key } })).statusCode).toBe(202);
  });
});

describe('authorization', () => {
  it('when a key posts a patient of another center, then 403 and nothing is enqueued', async () => {
    const before = await jobCount();
    const res = await post(h.app, { ...SEED_SAMPLE, center_id: 4 }, { headers: bearer(writer) });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'FORBIDDEN_TENANT' });
    expect(await jobCount()).toBe(before);
  });

  it('when a key posts a batch with one item of another center, then that item alone is refused by index and the others are enqueued', async () => {
    const before = await jobCount();
    const res = await post(h.app, [{ ...SEED_SAMPLE, id: 311 }, { ...SEED_SAMPLE, id: 411, center_id: 4 }], { url: '/api/patients/batch', headers: bearer(writer) });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 1, rejected: 1, results: [{ index: 0, jobId: expect.any(String) }, { index: 1, errors: [{ path: 'center_id' }] }] });
    const { job } = await h.recordResult(res.json().results[0].jobId);
    expect(job?.data.records.map((r) => r.patient.id)).toEqual([311]);
    expect(await jobCount()).toBe(before + 1);
  });

  it('when another producer queues a record of a center its key may not write, then the worker refuses it FORBIDDEN_TENANT, keeps a dead letter and stores nothing', async () => {
    // The API refuses such a record (403 above); a record put on the queue directly carries the
    // tenant of the key it claims, and the worker checks it again before any write.
    const [ref] = await h.enqueueJob([{ patient: { ...SEED_SAMPLE, id: 412, center_id: 4 }, receivedAt: Date.now(), submittedBy: 'center-3-writer', tenant: { centers: [3], clusters: [] } }]);
    h.startWorker();
    try {
      const settled = await h.settled(ref!);
      expect(settled.state).toBe('failed');
      expect(settled.result).toMatchObject({ outcome: 'rejected', code: 'FORBIDDEN_TENANT' });
      expect(await h.store.deadLetters.findOne({ jobId: ref })).toMatchObject({ errorCode: 'FORBIDDEN_TENANT', patientId: 412 });
      expect(await h.store.patients.countDocuments({ _id: patientKey(4, 412) })).toBe(0);
    } finally {
      await h.stopWorker();
    }
  });

  it('when a key lacks the write scope, then 403', async () => {
    const res = await post(h.app, SEED_SAMPLE, { headers: bearer(reader) });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'FORBIDDEN_SCOPE' });
  });

  it('when a key reads another center\'s patient, then 404; its own center, 200', async () => {
    const { _id, ...base } = { _id: 0, ...SEED_SAMPLE };
    void _id;
    const doc = (id: number, center: number) => ({ ...base, _id: patientKey(center, id), id, center_id: center, create_time: null, modify_time: null, followup_date: null, _ingest: { version: 'x', jobId: '0', receivedAt: new Date(), appliedAt: new Date(), attempt: 1 } });
    await h.store.patients.insertMany([doc(301, 3), doc(401, 4)]);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/301', headers: bearer(reader) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/401', headers: bearer(reader) })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/401', headers: bearer(admin) })).statusCode).toBe(200);
  });

  it('when another key asks for a job\'s status, then 404; the submitting key sees it', async () => {
    const { jobId } = (await post(h.app, SEED_SAMPLE, { headers: bearer(writer) })).json();
    expect((await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${jobId}`, headers: bearer(writer) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${jobId}`, headers: bearer(reader) })).statusCode).toBe(404);
  });

  it('when the dashboard is opened, then only an ops or admin key gets it, with a CSP', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/admin/queues', headers: bearer(writer) })).statusCode).toBe(403);
    for (const key of [admin, ops]) {
      const ok = await h.app.inject({ method: 'GET', url: '/admin/queues', headers: bearer(key) });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toMatch(/text\/html/);
      expect(ok.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(ok.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
      expect(ok.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    }
    const api = await h.app.inject({ method: 'GET', url: '/admin/queues/api/queues?activeQueue=' + h.config.QUEUE_NAME + '&status=waiting&page=1', headers: bearer(ops) });
    expect(api.statusCode).toBe(200);
    expect(api.body).not.toContain('sample string');
  });

  it('when an ops key asks for patients or posts one, then 403: it reaches the dashboard and /metrics only', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/301', headers: bearer(ops) })).json()).toMatchObject({ status: 403, code: 'FORBIDDEN_SCOPE' });
    expect((await post(h.app, SEED_SAMPLE, { headers: bearer(ops) })).json()).toMatchObject({ status: 403, code: 'FORBIDDEN_SCOPE' });
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(ops) })).statusCode).toBe(200);
  });

  it('when /metrics is asked for without a key or with a patient key, then 401 and 403', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(writer) })).statusCode).toBe(403);
  });
});

describe('hardening', () => {
  it('when any response is sent, then security headers are set', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
  });

  it('when a body carries __proto__, then it is rejected with 400 and nothing is enqueued', async () => {
    const before = await jobCount();
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', payload: '{"id": 1, "__proto__": {"polluted": true}}', headers: { ...bearer(writer), 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(await jobCount()).toBe(before);
  });
});

describe('rate limiting', () => {
  it('when a key exceeds its limit, then 429 with Retry-After and rate-limit headers, and other keys are unaffected', async () => {
    const limited = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: JSON.stringify([writer.entry, reader.entry]), RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '3600000' }); // windows are aligned to the epoch: an hour's rarely starts mid-test
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.app.inject({ method: 'GET', url: '/api/patients/301', headers: bearer(writer) })).statusCode);
      expect(statuses.slice(0, 3)).toEqual([404, 404, 404]);
      const blocked = await limited.app.inject({ method: 'GET', url: '/api/patients/301', headers: bearer(writer) });
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1); // seconds until the window resets
      expect(blocked.headers['x-ratelimit-limit']).toBe('3');
      expect(blocked.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect((await limited.app.inject({ method: 'GET', url: '/api/patients/301', headers: bearer(reader) })).statusCode).toBe(404);
      // Refused before its body is read: a body that is not even JSON gets the 429, not a 400.
      const unread = await limited.app.inject({ method: 'POST', url: '/api/patients', headers: { ...bearer(writer), 'content-type': 'application/json' }, payload: '{not json' });
      expect(unread.statusCode).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
