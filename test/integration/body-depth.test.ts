import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { freePort } from '../support/local-servers.ts';
import { startProcess, waitForOutput } from '../support/processes.ts';
import { nestedTooDeep } from '../../src/api/json-depth.ts';

// One request must not take the API down: JSON.parse has no depth limit, and a 4 MB batch body of
// nested arrays built millions of arrays until the process died at its heap limit. Bodies are
// checked for nesting before they are parsed (src/api/json-depth.ts).

const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const HUGE = 2_000_000; // 4 MB: within the batch body limit (API_BATCH_MAX x 4096)

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

describe('JSON nesting is bounded before parsing', () => {
  it('when a batch body is 4 MB of nested arrays, then it answers 400 BODY_TOO_DEEP, enqueues nothing, and the next batch is taken', async () => {
    const before = await h.queue.count();
    const res = await h.app.inject({ method: 'POST', url: '/api/patients/batch', headers: { 'content-type': 'application/json' }, payload: nested(HUGE) });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'BODY_TOO_DEEP', status: 400 });
    expect(await h.queue.count()).toBe(before);
    const ok = await h.app.inject({ method: 'POST', url: '/api/patients/batch', payload: [{ ...SEED_SAMPLE, id: 7001 }] });
    expect(ok.statusCode).toBe(202);
  });

  it('when a single patient (application/json or text/json) nests 33 levels, then 400 BODY_TOO_DEEP; a patient with an ignored field nested 30 levels is still taken', async () => {
    const deep = JSON.stringify({ ...SEED_SAMPLE, id: 7002, extra: JSON.parse(nested(32)) });
    for (const type of ['application/json', 'text/json']) {
      const res = await h.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': type }, payload: deep });
      expect([type, res.statusCode, res.json().code]).toEqual([type, 400, 'BODY_TOO_DEEP']);
    }
    const fine = JSON.stringify({ ...SEED_SAMPLE, id: 7003, extra: JSON.parse(nested(29)) });
    expect((await h.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': 'application/json' }, payload: fine })).statusCode).toBe(202);
  });

  it('when one NDJSON line is 4 MB of nested arrays, then that line is refused by index and the other lines are taken', async () => {
    const body = [JSON.stringify({ ...SEED_SAMPLE, id: 7004 }), nested(HUGE), JSON.stringify({ ...SEED_SAMPLE, id: 7005 })].join('\n');
    const res = await h.app.inject({ method: 'POST', url: '/api/patients/batch', headers: { 'content-type': 'application/x-ndjson' }, payload: body });
    expect(res.statusCode).toBe(202);
    const items = res.json().results as { index: number; errors?: { message: string }[] }[];
    expect(items.map((i) => i.errors?.[0]?.message ?? 'accepted')).toEqual(['accepted', 'nests deeper than 32 levels', 'accepted']);
  });

  it('when brackets sit inside strings or are escaped, then they do not count as nesting', () => {
    expect(nestedTooDeep(JSON.stringify({ fullname: '['.repeat(100), note: '\\"[[[[' }))).toBe(false);
    expect(nestedTooDeep(nested(32))).toBe(false);
    expect(nestedTooDeep(nested(33))).toBe(true);
  });
});

describe('the API process under the production heap limit', () => {
  it('when a 4 MB nested batch body is posted to a real API process, then it answers 400 and stays up', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const api = startProcess('api', {
      REDIS_URL: inject('redisUrl'), MONGO_URL: inject('mongoUrl'), MONGO_DB: 'body_depth', QUEUE_NAME: 'body-depth', API_PORT: String(port), AUTH_DEV_MODE: 'true',
      // The Dockerfile's heap: where the unbounded parse died.
      NODE_OPTIONS: '--max-old-space-size=128 --max-semi-space-size=4',
    });
    try {
      await waitForOutput(api, /Server listening/);
      const url = `http://127.0.0.1:${port}`;
      const res = await fetch(`${url}/api/patients/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: nested(HUGE) });
      expect(res.status, api.output().slice(-2000)).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('BODY_TOO_DEEP');
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      expect(api.child.exitCode).toBeNull();
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  });
});
