import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PATIENT_FIELD_NAMES, SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { seedKey } from '../support/patient-docs.ts';
import { post } from '../support/http.ts';

// Issue 3's contract over HTTP: the seed's sample in every format the old endpoint took is stored
// identically; other media types, oversized and invalid bodies are refused with problem+json, and
// nothing of theirs reaches the queue.

const RAW_FILE = readFileSync(new URL('../../examples/patient.json', import.meta.url), 'utf8');
const asForm = (record: Record<string, unknown>) => new URLSearchParams(Object.entries(record).map(([k, v]): [string, string] => [k, String(v)])).toString();

let stored: Harness; // API + worker
let bare: Harness; // API + queue only, 2 KiB body limit: nothing posted to it may ever be enqueued
beforeAll(async () => {
  stored = await createHarness();
  stored.startWorker();
  bare = await createHarness({ API_BODY_LIMIT_BYTES: '2048' });
});
afterAll(async () => {
  await stored?.close();
  await bare?.close();
});

function expectProblem(res: Awaited<ReturnType<typeof post>>, status: number) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, title: expect.any(String), type: expect.any(String) });
}

describe('the seed sample in every accepted format', () => {
  it.each([
    ['SEED_SAMPLE as application/json', JSON.stringify(SEED_SAMPLE), 'application/json'],
    ['examples/patient.json as application/json', RAW_FILE, 'application/json'],
    ['examples/patient.json as application/json; charset=utf-8', RAW_FILE, 'application/json; charset=utf-8'],
    ['SEED_SAMPLE as text/json', JSON.stringify(SEED_SAMPLE), 'text/json'],
    ['examples/patient.json as text/json', RAW_FILE, 'text/json'],
    ['SEED_SAMPLE as a form, all values strings', asForm(SEED_SAMPLE), 'application/x-www-form-urlencoded'],
    ['examples/patient.json as a form, all values strings', asForm(JSON.parse(RAW_FILE) as Record<string, unknown>), 'application/x-www-form-urlencoded'],
  ])('when %s is posted verbatim, then MongoDB holds the same typed document', async (_name, payload, contentType) => {
    await stored.store.patients.deleteOne({ _id: seedKey(1) });
    const res = await post(stored.app, payload, { contentType });
    expect(res.statusCode).toBe(202);
    const { state, result } = await stored.settled(res.json().jobId);
    expect(state).toBe('completed');
    expect(result).toEqual({ outcome: 'inserted', patientId: 1 });

    const { _ingest, ...doc } = (await stored.store.patients.findOne({ _id: seedKey(1) }))!;
    expect(_ingest).toMatchObject({ jobId: res.json().jobId });
    expect(doc).toEqual({
      _id: seedKey(1),
      ...SEED_SAMPLE,
      create_time: new Date('2025-10-31T12:55:09.138Z'),
      modify_time: new Date('2025-10-31T12:55:09.138Z'),
      followup_date: new Date('2025-10-31T12:55:09.153Z'),
    });
    expect(Object.keys(doc)).toEqual(['_id', ...PATIENT_FIELD_NAMES]);
    // Stored as int and date by the server's own reckoning, not only as JS values.
    const ints = ['id', 'cluster_id', 'record_status_id', 'isactive', 'status_id', 'med_sup_role_id'];
    for (const f of ints) expect(await stored.store.patients.countDocuments({ _id: seedKey(1), [f]: { $type: 'int' } }), f).toBe(1);
    expect(await stored.store.patients.countDocuments({ _id: seedKey(1), followup_date: { $type: 'date' } })).toBe(1);
  });
});

describe('refused requests', () => {
  afterEach(async () => {
    expect(await bare.queue.getJobCounts()).toSatisfy((counts: Record<string, number>) => Object.values(counts).every((n) => n === 0));
  });

  it('when the body is sent as text/plain, then the answer is 415 problem+json', async () => {
    expectProblem(await post(bare.app, JSON.stringify(SEED_SAMPLE), { contentType: 'text/plain' }), 415);
  });

  it.each(['application/xml', 'text/xml', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/html'])(
    'when the body is sent as %s, then the answer is 415 problem+json',
    async (contentType) => {
      expectProblem(await post(bare.app, JSON.stringify(SEED_SAMPLE), { contentType }), 415);
    },
  );

  it.each(['application/json', 'text/json', 'application/x-www-form-urlencoded'])(
    'when a %s body is larger than API_BODY_LIMIT_BYTES, then the answer is 413 problem+json',
    async (contentType) => {
      const big = { ...SEED_SAMPLE, fullname: 'x'.repeat(2100) };
      const payload = contentType.includes('form') ? asForm(big) : JSON.stringify(big);
      expect(Buffer.byteLength(payload)).toBeGreaterThan(2048);
      expectProblem(await post(bare.app, payload, { contentType }), 413);
    },
  );

  it('when a body just under the limit is valid, then the limit does not refuse it', async () => {
    const payload = JSON.stringify({ ...SEED_SAMPLE, id: 9, fullname: 'x'.repeat(255) });
    expect(Buffer.byteLength(payload)).toBeLessThan(2048);
    const res = await post(bare.app, payload, { contentType: 'application/json' });
    expect(res.statusCode).toBe(202);
    await bare.queue.obliterate({ force: true }); // the one job this file lets into the bare queue
  });

  const CANARY = 'CANARY-c0ntract-9q';
  const everyFieldInvalid: Record<string, string | number> = {
    id: 0,
    cluster_id: 2147483648,
    center_id: `${CANARY}1`,
    create_time: '2025-02-30',
    modify_time: '2023-02-29T10:00:00',
    modify_by: 1.5,
    record_status_id: 128,
    isactive: -129,
    person_id: '12abc',
    order: -2147483649,
    fullname: `${CANARY}\u0000`,
    welfare_detail_id: `${CANARY}2`,
    hn: 'h'.repeat(256),
    hn_owner: `lone\rCR ${CANARY}`,
    total_hd: '2147483648',
    followup_date: '2025-10-31T24:00:00',
    status_id: '128',
    dialyzer1_id: '1.5',
    dialyzer2_id: `${CANARY}3`,
    doctor1_id: '-2147483649',
    doctor2_id: 1e20,
    trt_no: `${CANARY}\u001b`,
    med_sup_role_id: 'one',
    trt_patient_id: `bell\u0007${CANARY}`,
    trt_cn: `del\u007f${CANARY}`,
  };

  it.each([
    ['application/json', JSON.stringify(everyFieldInvalid)],
    ['text/json', JSON.stringify(everyFieldInvalid)],
    ['application/x-www-form-urlencoded', asForm(Object.fromEntries(Object.entries(everyFieldInvalid).filter(([k]) => k !== 'modify_by' && k !== 'doctor2_id')))],
  ])('when every field of a %s body is invalid, then the 400 lists each field once and quotes none of the values', async (contentType, payload) => {
    const res = await post(bare.app, payload, { contentType });
    expectProblem(res, 400);
    const paths = (res.json().errors as { path: string; message: string }[]).map((e) => e.path);
    const expected = contentType.includes('form') ? PATIENT_FIELD_NAMES.filter((f) => f !== 'modify_by' && f !== 'doctor2_id') : PATIENT_FIELD_NAMES;
    expect(paths).toEqual(expected);
    expect(res.body).not.toContain(CANARY);
    expect(bare.apiLogs.text()).not.toContain(CANARY);
  });

  it('when names repeat in different case and other fields are wrong, then the 400 names all of them', async () => {
    const res = await post(bare.app, JSON.stringify({ id: 1, ID: 2, FullName: 'a', fullname: 'b', isactive: 300, '$set': { id: 5 } }), { contentType: 'application/json' });
    expectProblem(res, 400);
    expect((res.json().errors as { path: string }[]).map((e) => e.path).sort()).toEqual(['fullname', 'id', 'isactive']);
  });

  it.each([
    ['application/json', 'null'],
    ['application/json', '[1,2]'],
    ['application/json', '"text"'],
    ['application/json', '{"id": 1,'],
    ['application/json', '{"__proto__": {"id": 1}, "id": 1}'],
    ['text/json', '{"constructor": {"prototype": {"id": 1}}, "id": 1}'],
    ['application/x-www-form-urlencoded', 'fullname=no+id'],
    ['application/x-www-form-urlencoded', 'id=1&id=2'],
  ])('when a %s body is %s, then it is a 400 problem and nothing is enqueued', async (contentType, payload) => {
    expectProblem(await post(bare.app, payload, { contentType }), 400);
  });
});
