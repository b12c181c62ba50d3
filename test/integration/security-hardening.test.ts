import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';

const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer), AUTH_FAIL_MAX: '5', API_BATCH_MAX: '100' });
});
afterAll(() => h.close());

const jobCount = () => h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
const ndjson = (lines: number) => Array.from({ length: lines }, (_, i) => JSON.stringify({ ...SEED_SAMPLE, id: i + 1 })).join('\n');

describe('request ids', () => {
  it('when x-request-id is long or not a plain token, then nothing of it is logged; a plain token is logged as clientRequestId beside our own id, never in its place', async () => {
    for (const given of ['a'.repeat(12 * 1024), 'fullname=Somchai Jaidee']) {
      await h.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': given } });
    }
    const ok = await h.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'trace-1.2_3' } });
    expect(ok.statusCode).toBe(200);
    const lines = h.apiLogs.lines().filter((l) => l.msg === 'request');
    const ids = lines.map((l) => String(l.reqId));
    // Ours, always: a client cannot give two requests one id (or another client's) in logs and audit.
    expect(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(lines.at(-1)).toMatchObject({ clientRequestId: 'trace-1.2_3' });
    expect(lines.slice(-3, -1).map((l) => l.clientRequestId)).toEqual([undefined, undefined]);
    expect(h.apiLogs.text()).not.toContain('Somchai');
    expect(h.apiLogs.text()).not.toContain('a'.repeat(100));
  });

  it('when a read carries a client x-request-id, then the access audit records our request id, the one in the log line, not the client\'s', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/patients/4242', headers: { ...bearer(writer), 'x-request-id': 'client-chosen-1' } });
    expect(res.statusCode).toBe(404);
    const line = h.apiLogs.lines().filter((l) => l.msg === 'request').at(-1)!;
    expect(line).toMatchObject({ clientRequestId: 'client-chosen-1' });
    const entry = await h.store.db.collection('access_audit').findOne({ patientId: 4242 });
    expect(entry?.requestId).toBe(line.reqId);
    expect(entry?.requestId).not.toBe('client-chosen-1');
  });
});

describe('logs and privacy', () => {
  it('when patients are written and read, then each request log line has exactly the documented fields, and no patient id or value', async () => {
    const values = { fullname: 'Malee Canarysong', hn: 'HN-LOG-4711', trt_patient_id: '3101700123456', create_time: '1961-02-03T04:05:06' };
    const patient = { ...SEED_SAMPLE, ...values, id: 987_654, center_id: 3 };
    const before = h.apiLogs.lines().length;
    const posted = await h.app.inject({ method: 'POST', url: '/api/patients', payload: patient, headers: { ...bearer(writer), 'idempotency-key': 'log-fields-1' } });
    expect(posted.statusCode).toBe(202);
    const replayed = await h.app.inject({ method: 'POST', url: '/api/patients', payload: patient, headers: { ...bearer(writer), 'idempotency-key': 'log-fields-1' } });
    expect(replayed.statusCode).toBe(202);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/987654', headers: bearer(writer) })).statusCode).toBe(404);
    const lines = h.apiLogs.lines().slice(before);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(3);
    const base = ['level', 'time', 'pid', 'hostname', 'name', 'reqId', 'msg', 'method', 'route', 'status', 'ms', 'client', 'clientAddress'];
    expect(requests.map((l) => Object.keys(l).sort())).toEqual([[...base, 'jobId'], [...base, 'replay'], base].map((k) => k.sort()));
    // Neither the patient id nor any value of the record (name, hn, national id, dates) in any line.
    const text = JSON.stringify(lines);
    for (const value of ['987654', 'Canarysong', 'HN-LOG', '3101700123456', '1961']) expect(text).not.toContain(value);
  });
});

describe('caching and CSP', () => {
  it('when any /api answer is sent (data, 404, 401), then Cache-Control is no-store', async () => {
    const answers = [
      await h.app.inject({ method: 'GET', url: '/api/patients/999', headers: bearer(writer) }),
      await h.app.inject({ method: 'POST', url: '/api/patients', payload: SEED_SAMPLE, headers: bearer(writer) }),
      await h.app.inject({ method: 'GET', url: '/api/patients/1', headers: { 'x-request-id': 'no-key' } }),
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([404, 202, 401]);
    for (const res of answers) expect(res.headers['cache-control']).toBe('no-store');
  });

  it('when the help page or its assets are fetched, then a Content-Security-Policy limits them to this origin', async () => {
    for (const url of ['/docs', '/docs/static/swagger-ui-bundle.js']) {
      const page = await h.app.inject({ method: 'GET', url });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(page.headers['content-security-policy']).not.toMatch(/validator\.swagger\.io|upgrade-insecure-requests|https:/);
    }
  });
});

describe('bad keys and oversized batches cost little', () => {
  it('when one address sends more invalid keys than AUTH_FAIL_MAX, then further invalid keys get 429 with Retry-After, while a valid key from that address still gets through', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await h.app.inject({ method: 'GET', url: '/api/patients/1', headers: { authorization: `Bearer hk_guess_${i}` }, remoteAddress: '10.9.9.9' })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    // A center sharing the address (NAT, proxy, ingress) is not locked out by another's failures.
    const valid = await h.app.inject({ method: 'GET', url: '/api/patients/1', headers: bearer(writer), remoteAddress: '10.9.9.9' });
    expect(valid.statusCode).toBe(404); // authenticated: the patient is simply not there
    const write = await h.app.inject({ method: 'POST', url: '/api/patients', payload: SEED_SAMPLE, headers: bearer(writer), remoteAddress: '10.9.9.9' });
    expect(write.statusCode).toBe(202);
    // ...and it lifts nothing: the next bad key from there is still refused, without a log line of its own.
    const failuresLogged = () => h.apiLogs.lines().filter((l) => l.msg === 'authentication failed' && l.clientAddress === '10.9.9.9').length;
    const logged = failuresLogged();
    const again = await h.app.inject({ method: 'GET', url: '/api/patients/1', headers: { 'x-api-key': 'hk_guess_again' }, remoteAddress: '10.9.9.9' });
    expect(again.statusCode).toBe(429);
    expect(again.json()).toMatchObject({ code: 'AUTH_RATE_LIMITED' });
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
    expect(failuresLogged()).toBe(logged);
    expect(logged).toBe(5);
    // Another address is not affected.
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/1', headers: { authorization: 'Bearer hk_other' }, remoteAddress: '10.9.9.10' })).statusCode).toBe(401);
  });

  it('when an NDJSON batch has more lines than API_BATCH_MAX, then 413 at the line past the bound, which is never parsed, nor the body as a whole', async () => {
    const before = await jobCount();
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const res = await h.app.inject({ method: 'POST', url: '/api/patients/batch', payload: ndjson(101), headers: { ...bearer(writer), 'content-type': 'application/x-ndjson' } });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ code: 'BATCH_TOO_LARGE' });
      // The parser before issue 22 ran JSON.parse on the whole body first. Now each line is parsed
      // alone as it completes (json-scan.ts): never the body or two lines at once, and never line 101.
      const texts = parse.mock.calls.map(([text]) => String(text));
      expect(texts.filter((t) => t.includes('\n'))).toEqual([]);
      expect(texts.filter((t) => t.includes('"id":101,'))).toEqual([]);
      expect(texts.filter((t) => t.includes('"id":100,'))).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
    expect(await jobCount()).toBe(before);
    const fits = await h.app.inject({ method: 'POST', url: '/api/patients/batch', payload: `${ndjson(100)}\n\n`, headers: { ...bearer(writer), 'content-type': 'application/x-ndjson' } });
    expect(fits.json()).toMatchObject({ accepted: 100, rejected: 0 });
  });
});

describe('the contract bounds modify_time', () => {
  it('when modify_time is further ahead than PATIENT_MAX_FUTURE_S, then 400 naming modify_time; within the bound, 202', async () => {
    const far = await h.app.inject({ method: 'POST', url: '/api/patients', payload: { ...SEED_SAMPLE, modify_time: '9999-12-31T00:00:00Z' }, headers: bearer(writer) });
    expect(far.statusCode).toBe(400);
    expect(far.json().errors).toEqual([{ path: 'modify_time', message: expect.stringMatching(/in the future/) }]);
  });

  it('when nothing sets PATIENT_MAX_FUTURE_S, then it covers clock skew only: +1 h is refused, +1 min accepted, also as a Bangkok local time without offset', async () => {
    expect(h.config.PATIENT_MAX_FUTURE_S).toBe(300);
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    // Asia/Bangkok (PATIENT_TIME_ZONE) is UTC+7 all year: the wall time a center's clock shows, no offset.
    const bangkokWall = (ms: number) => new Date(Date.now() + ms + 7 * 3600_000).toISOString().replace(/Z$/, '');
    const post = (modify_time: string) => h.app.inject({ method: 'POST', url: '/api/patients', payload: { ...SEED_SAMPLE, modify_time }, headers: bearer(writer) });
    const hour = await post(at(3600_000));
    expect(hour.statusCode).toBe(400);
    expect(hour.json().errors).toEqual([{ path: 'modify_time', message: expect.stringMatching(/more than 300 s in the future/) }]);
    expect((await post(bangkokWall(3600_000))).statusCode).toBe(400);
    expect((await post(at(60_000))).statusCode).toBe(202);
    expect((await post(bangkokWall(60_000))).statusCode).toBe(202);
    expect((await post(bangkokWall(0).replace(/\.\d+$/, '+07:00'))).statusCode).toBe(202);
  });

  it('when a batch item has a far-future modify_time, then only that item is refused', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/patients/batch', payload: [SEED_SAMPLE, { ...SEED_SAMPLE, modify_time: '2999-01-01' }], headers: bearer(writer) });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 1, rejected: 1, results: [{ index: 0 }, { index: 1, errors: [{ path: 'modify_time' }] }] });
  });
});
