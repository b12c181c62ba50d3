import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { bearer, makeKey } from '../support/keys.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';

const writer = makeKey('dl-writer', 'patients:write,patients:read');
const admin = makeKey('dl-admin', 'admin');
const ops = makeKey('dl-ops', 'ops');
const CANARY = 'CANARY-DEADLETTER-7d1e';

let h: Harness;
let poison: string;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: JSON.stringify([writer.entry, admin.entry, ops.entry]) });
  h.startWorker();
  // Another producer's poison record (isactive out of range) carrying a canary value; its neighbour is fine.
  [poison] = (await h.enqueueJob([
    { patient: { ...SEED_SAMPLE, id: 61, isactive: 999, hn: CANARY }, receivedAt: Date.now() },
    { patient: { ...SEED_SAMPLE, id: 62 }, receivedAt: Date.now() },
  ])) as [string, string];
  await h.settled(poison);
  await until('the dead letter', 10_000, async () => (await h.store.deadLetters.countDocuments()) === 1, 100, async () => h.store.deadLetters.find({}).project({ _id: 1 }).toArray());
});
afterAll(() => h.close());

const list = (headers: Record<string, string>, query = '') => h.app.inject({ method: 'GET', url: `/api/admin/dead-letters${query}`, headers });
const replay = (headers: Record<string, string>, id: string) => h.app.inject({ method: 'POST', url: `/api/admin/dead-letters/${encodeURIComponent(id)}/replay`, headers });

describe('dead letters over HTTP (admin scope)', () => {
  it('when an admin lists dead letters, then each comes with ids, code, field path and times, never a value', async () => {
    const res = await list(bearer(admin));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ total: 1, offset: 0, limit: 100 });
    expect(body.items).toEqual([expect.objectContaining({ jobId: poison, centerId: 3, patientId: 61, errorCode: expect.any(String), attempts: 1, replayedAt: null, replayJobId: null })]);
    expect(body.items[0].errorMessage).toContain('isactive');
    expect(new Date(body.items[0].failedAt).getTime()).toBeGreaterThan(0);
    expect(res.body).not.toContain(CANARY);
    expect(res.body).not.toContain('999');
  });

  it('when a page is asked past the end or with a bad limit, then an empty page or a 400 problem', async () => {
    expect((await list(bearer(admin), '?offset=1')).json()).toMatchObject({ total: 1, offset: 1, items: [] });
    const bad = await list(bearer(admin), '?limit=0');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
  });

  it('when a key without the admin scope asks, then 403 for the list and the replay, and nothing is enqueued', async () => {
    const jobsBefore = await h.queue.count();
    const [id] = (await list(bearer(admin))).json().items.map((l: { id: string }) => l.id);
    for (const res of [await list(bearer(writer)), await replay(bearer(writer), id)]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'FORBIDDEN_SCOPE' });
    }
    expect(await h.queue.count()).toBe(jobsBefore);
    expect((await list({})).statusCode).toBe(401);
  });

  it('when an admin replays a letter, then 202 with the new status URL, the letter is marked, and a second replay is 409', async () => {
    // Its own queue and database: the replay adds letters the other tests of this file must not see, in any order.
    const r = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: JSON.stringify([writer.entry, admin.entry, ops.entry]) });
    try {
      r.startWorker();
      const [ref] = await r.enqueueJob([{ patient: { ...SEED_SAMPLE, id: 61, isactive: 999 }, receivedAt: Date.now() }]);
      await r.settled(ref!);
      await until('the dead letter', 10_000, async () => (await r.store.deadLetters.countDocuments()) === 1);
      const listIn = (headers: Record<string, string>, query = '') => r.app.inject({ method: 'GET', url: `/api/admin/dead-letters${query}`, headers });
      const replayIn = (headers: Record<string, string>, id: string) => r.app.inject({ method: 'POST', url: `/api/admin/dead-letters/${encodeURIComponent(id)}/replay`, headers });
      const [id] = (await listIn(bearer(admin))).json().items.map((l: { id: string }) => l.id);
      const res = await replayIn(bearer(admin), id);
      expect(res.statusCode).toBe(202);
      const { replayJobId, statusUrl } = res.json();
      expect(res.headers.location).toBe(statusUrl);
      expect(statusUrl).toBe(`/api/patients/jobs/${replayJobId}`);
      // The record is still invalid, so the replay is refused again by the worker: a new letter.
      await r.settled(replayJobId);
      expect((await r.app.inject({ method: 'GET', url: statusUrl, headers: bearer(admin) })).json()).toMatchObject({ state: 'failed', patientId: 61 });
      expect(await r.store.deadLetters.findOne({ _id: id })).toMatchObject({ replayJobId });
      expect((await listIn(bearer(admin))).json().items.map((l: { jobId: string }) => l.jobId)).toEqual([replayJobId]);
      expect((await listIn(bearer(admin), '?replayed=true')).json().total).toBe(2);
      expect((await replayIn(bearer(admin), id)).statusCode).toBe(409);
      expect((await replayIn(bearer(admin), 'nope:1-0')).statusCode).toBe(404);
    } finally {
      await r.close();
    }
  });

  it('when an ops key (dashboard viewer) asks the dashboard to retry or clean, then 403; reading works', async () => {
    const url = `/admin/queues/api/queues/${h.config.QUEUE_NAME}`;
    expect((await h.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: bearer(ops) })).statusCode).toBe(200);
    for (const path of ['/retry/failed', '/clean/failed', '/1-0/retry']) {
      expect((await h.app.inject({ method: 'PUT', url: `${url}${path}`, headers: bearer(ops) })).statusCode, path).toBe(403);
    }
    expect((await list(bearer(ops))).statusCode).toBe(403);
  });

  it('when an admin asks the dashboard to retry, clean, empty or obliterate, then 403 BOARD_READ_ONLY (problem+json) and the failed jobs stay', async () => {
    // Issue 22: retries were allowed (fails on 058d750: the retries answered 200); replay the dead letters instead (audited).
    const url = `/admin/queues/api/queues/${h.config.QUEUE_NAME}`;
    const failedBefore = await h.queue.getJobCountByTypes('failed');
    for (const path of ['/retry/failed', '/1-0/retry', '/clean/failed', '/empty', '/obliterate', '/pause']) {
      const res = await h.app.inject({ method: 'PUT', url: `${url}${path}`, headers: bearer(admin) });
      expect([path, res.statusCode, res.headers['content-type'], res.json().code]).toEqual([path, 403, 'application/problem+json; charset=utf-8', 'BOARD_READ_ONLY']);
    }
    expect(await h.queue.getJobCountByTypes('failed')).toBe(failedBefore);
  });

  it('when a replay id is longer than 100 characters, then 400 problem+json naming the bound, as the document says (issue 22: an undocumented 414 in Fastify\'s format, echoing the path)', async () => {
    const res = await h.app.inject({ method: 'POST', url: `/api/admin/dead-letters/${'x'.repeat(101)}/replay`, headers: bearer(admin) });
    expect([res.statusCode, res.headers['content-type'], res.json().code]).toEqual([400, 'application/problem+json; charset=utf-8', 'LETTER_ID_TOO_LONG']);
    expect(res.body).not.toContain('x'.repeat(101));
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const replay = doc.paths['/api/admin/dead-letters/{id}/replay'].post;
    expect([replay.responses['400'] !== undefined, replay.responses['414'], replay.parameters[0].schema.maxLength]).toEqual([true, undefined, 100]);
  });

  it('when /docs/json is read, then both operations are documented with their 403', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.paths['/api/admin/dead-letters'].get.responses['403']).toBeDefined();
    expect(doc.paths['/api/admin/dead-letters/{id}/replay'].post.responses['403']).toBeDefined();
  });
});
