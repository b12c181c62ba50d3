import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { post } from '../support/http.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { until } from '../support/records.ts';

// Issue 24: one receipt per submission. A batch's `submission` URL answers counts per state and
// outcome and the index and code of every record that did not land, for the key that sent it only,
// as long as its jobs are kept; a single POST's submission is its one record.

const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');
const other = makeKey('center-3-other', 'patients:write,patients:read', 'centers=3');
const CANARY = `CANARY${Math.random().toString(36).slice(2)}`;
const version = (id: number, modified: string) => ({ ...SEED_SAMPLE, id, hn: `${CANARY}-${id}`, modify_time: modified });
const V0 = '2025-10-01T08:00:00.0000000+07:00';
const V1 = '2025-10-31T19:55:09.1383551+07:00';
const V2 = '2025-11-02T08:00:00.0000000+07:00';

let h: Harness;
let short: Harness;
beforeAll(async () => {
  const keys = { AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer, other) };
  h = await createHarness(keys);
  // Completed jobs, and so receipts, kept 1 s.
  short = await createHarness({ ...keys, JOB_KEEP_COMPLETED_AGE_S: '1' });
  short.startWorker();
});
afterAll(async () => {
  await h?.close();
  await short?.close();
});

const receipt = (target: Harness, url: string, key = writer) => target.app.inject({ method: 'GET', url, headers: bearer(key) });
const batch = async (target: Harness, items: unknown[]) => {
  const res = await post(target.app, items, { url: '/api/patients/batch', headers: bearer(writer) });
  expect(res.statusCode).toBe(202);
  return res.json() as { submission: string; results: { index: number; jobId?: string }[] };
};
const completed = async (target: Harness, url: string) => {
  let last: unknown;
  await until(`${url} to be complete`, 20_000, async () => ((last = (await receipt(target, url)).json()) as { complete?: boolean }).complete === true, 100, async () => last);
  return last as Record<string, unknown>;
};

describe('the receipt of a submission', () => {
  it('when a batch has outcomes of every kind a re-send can have (refused at intake, inserted, updated, stale; a re-sent identical version is a newer receipt, so updated), then its receipt counts each, lists what did not land by index and code, and holds no patient value', async () => {
    const first = await batch(h, [version(11, V1), version(12, V1), version(14, V1)]);
    expect(first.submission).toMatch(/^\/api\/submissions\/s-[A-Za-z0-9_-]{22}$/);
    const before = await receipt(h, first.submission);
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ total: 3, complete: false, counts: { queued: 3, active: 0, inserted: 0 }, notLanded: [] });
    h.startWorker();
    expect((await completed(h, first.submission)).counts).toEqual({ queued: 0, active: 0, inserted: 3, updated: 0, unchanged: 0, stale: 0, rejected: 0, failed: 0 });

    const second = await batch(h, [{ ...SEED_SAMPLE, id: 'not a number' }, version(11, V2), version(12, V0), version(14, V1), version(13, V1)]);
    const done = await completed(h, second.submission);
    expect(done).toEqual({
      submission: second.submission.split('/').at(-1), total: 5, complete: true,
      counts: { queued: 0, active: 0, inserted: 1, updated: 2, unchanged: 0, stale: 1, rejected: 1, failed: 0 },
      notLanded: [{ index: 0, code: 'PATIENT_INVALID' }],
    });
    expect(JSON.stringify(done)).not.toContain(CANARY);
  });

  it('when another key, or anyone with an unknown id, asks for a receipt, then the answer is 404 problem+json and says nothing of it', async () => {
    const { submission } = await batch(h, [version(21, V1)]);
    for (const [url, key] of [[submission, other], ['/api/submissions/s-AAAAAAAAAAAAAAAAAAAAAA', writer], ['/api/submissions/not-a-receipt', writer]] as const) {
      const res = await receipt(h, url, key);
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 404, code: 'SUBMISSION_NOT_FOUND' });
    }
    expect((await receipt(h, submission, writer)).statusCode).toBe(200);
  });

  it('when a single patient is posted, then its submission is its record, and the receipt counts that one outcome', async () => {
    const res = await post(h.app, version(31, V1), { headers: bearer(writer) });
    expect(res.statusCode).toBe(202);
    const { jobId, submission } = res.json() as { jobId: string; submission: string };
    expect(submission).toBe(`/api/submissions/${jobId}`);
    expect(await completed(h, submission)).toMatchObject({ total: 1, counts: { inserted: 1, queued: 0, active: 0 }, notLanded: [] });
    expect((await receipt(h, submission, other)).statusCode).toBe(404);
  });

  it('when the jobs of a decided submission pass their retention (JOB_KEEP_COMPLETED_AGE_S=1), then its receipt answers 404 with a clear problem', async () => {
    const { submission } = await batch(short, [version(41, V1), version(42, V1)]);
    expect((await completed(short, submission)).counts).toMatchObject({ inserted: 2 });
    let status = 0;
    await until('the receipt to expire', 15_000, async () => (status = (await receipt(short, submission)).statusCode) === 404, 250, async () => status);
    expect((await receipt(short, submission)).json()).toMatchObject({ status: 404, code: 'SUBMISSION_NOT_FOUND', detail: expect.stringContaining('retention') });
  });
});
