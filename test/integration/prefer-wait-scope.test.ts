import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/shared/access-audit.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey, type TestKey } from '../support/keys.ts';

// `Prefer: wait` answers with the stored record once the worker decided. Writing does not grant
// reading (issue 22): a key with only `patients:write` posted a stale dummy version and got the
// whole newer stored record back. It now gets what its write did, and no patient field.
const writeOnly = makeKey('center-3-write-only', 'patients:write', 'centers=3');
const readWrite = makeKey('center-3-read-write', 'patients:write,patients:read', 'centers=3');
const tag = Math.random().toString(36).slice(2, 10);
const STORED = { fullname: `STORED-NAME-${tag}`, hn: `HN-${tag}`, trt_no: `TRT-${tag}` };

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writeOnly, readWrite) });
  h.startWorker();
});
afterAll(() => h.close());

const postWaiting = (key: TestKey, body: object) =>
  h.app.inject({ method: 'POST', url: '/api/patients', payload: body, headers: { ...bearer(key), prefer: 'wait=20' } });
const newer = { ...SEED_SAMPLE, id: 880001, center_id: 3, ...STORED, modify_time: '2025-11-01T10:00:00+07:00' };
const staleDummy = { ...SEED_SAMPLE, id: 880001, center_id: 3, fullname: 'dummy', hn: 'dummy', trt_no: 'dummy', modify_time: '2025-01-01T10:00:00+07:00' };

describe('Prefer: wait returns the stored record only to a key that may read it', () => {
  it('when a write-only key posts a stale version with Prefer: wait, then 200 with its outcome and none of the stored record\'s values', async () => {
    expect((await postWaiting(readWrite, newer)).statusCode).toBe(201);

    const res = await postWaiting(writeOnly, staleDummy);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ingest-outcome']).toBe('stale');
    const body = res.json();
    expect(body).toEqual({ jobId: expect.any(String), state: 'skipped-as-stale', outcome: 'stale', statusUrl: `/api/patients/jobs/${body.jobId}` });
    for (const value of Object.values(STORED)) expect(res.body).not.toContain(value);
    expect(res.body).not.toContain('fullname');
    // Nothing was read for it, so no read-after-write is recorded for this key.
    const audit = h.store.db.collection<AccessEntry>('access_audit');
    expect(await audit.countDocuments({ action: 'patient.read-after-write', keyId: 'center-3-write-only' })).toBe(0);
  });

  it('when a write-only key posts a new patient with Prefer: wait, then 201 with the outcome inserted and no patient fields', async () => {
    const res = await postWaiting(writeOnly, { ...SEED_SAMPLE, id: 880002, center_id: 3, fullname: `NEW-${tag}` });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ jobId: expect.any(String), state: 'stored', outcome: 'inserted', statusUrl: expect.stringMatching(/^\/api\/patients\/jobs\//) });
    expect(res.body).not.toContain(`NEW-${tag}`);
  });

  it('when a read+write key posts the same stale version with Prefer: wait, then it still gets the stored record', async () => {
    const res = await postWaiting(readWrite, staleDummy);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ingest-outcome']).toBe('stale');
    expect(res.json()).toMatchObject({ id: 880001, center_id: 3, ...STORED });
  });

  it('when the help page is read, then Prefer: wait documents the stored patient for readers and the outcome alone for write-only keys', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const post = doc.paths['/api/patients'].post;
    expect(post.parameters.find((p: { name: string }) => p.name === 'Prefer').description).toMatch(/patients:read/);
    for (const code of ['200', '201']) {
      expect(post.responses[code].content['application/json'].schema.anyOf).toEqual([{ $ref: '#/components/schemas/Patient' }, { $ref: '#/components/schemas/WriteDecided' }]);
    }
    expect(Object.keys(doc.components.schemas.WriteDecided.properties).sort()).toEqual(['jobId', 'outcome', 'state', 'statusUrl']);
  });
});
