import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE, PATIENT_FIELD_NAMES } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { seedKey } from '../support/patient-docs.ts';
import { post } from '../support/http.ts';

// Issue 2's acceptance: the seed's sample goes in over HTTP and comes out of MongoDB, through the
// real queue and the real worker.

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  h.startWorker();
});
afterAll(() => h.close());

describe('POST /api/patients through to MongoDB', () => {
  it('when the seed sample is posted verbatim, then it is stored with every field and the right BSON types', async () => {
    const res = await post(h.app, SEED_SAMPLE);
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'queued', jobId: expect.any(String) });
    expect(res.headers.location).toBe(`/api/patients/jobs/${body.jobId}`);

    const { state, result } = await h.settled(body.jobId);
    expect(state).toBe('completed');
    expect(result).toEqual({ outcome: 'inserted', patientId: 1 });

    const doc = await h.store.patients.findOne({ _id: seedKey(1) });
    expect(doc).not.toBeNull();
    for (const field of PATIENT_FIELD_NAMES) expect(doc, field).toHaveProperty(field);
    expect(doc!.create_time).toBeInstanceOf(Date);
    expect(doc!.create_time!.toISOString()).toBe('2025-10-31T12:55:09.138Z');
    expect(doc!.followup_date!.toISOString()).toBe('2025-10-31T12:55:09.153Z');
    expect(doc!.fullname).toBe('sample string 10');
    expect(doc!._ingest).toMatchObject({ jobId: body.jobId, attempt: 1 });

    // BSON types as stored, asked of the server itself rather than of the driver's JS values.
    const typed = (field: string, type: string) => h.store.patients.countDocuments({ _id: seedKey(1), [field]: { $type: type } });
    for (const f of ['id', 'cluster_id', 'center_id', 'modify_by', 'record_status_id', 'isactive', 'order', 'total_hd', 'med_sup_role_id']) {
      expect(await typed(f, 'int'), f).toBe(1);
    }
    for (const f of ['create_time', 'modify_time', 'followup_date']) expect(await typed(f, 'date'), f).toBe(1);
    for (const f of ['fullname', 'hn', 'hn_owner', 'trt_no', 'trt_patient_id', 'trt_cn']) expect(await typed(f, 'string'), f).toBe(1);
  });

  it('when the same patient is posted twice with a changed fullname, then one document holds the second version', async () => {
    const first = await post(h.app, { ...SEED_SAMPLE, id: 2 });
    const second = await post(h.app, { ...SEED_SAMPLE, id: 2, fullname: 'changed name' });
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    expect(first.json().jobId).not.toBe(second.json().jobId);
    await h.settled(first.json().jobId);
    await h.settled(second.json().jobId);
    expect(await h.store.patients.countDocuments({ _id: seedKey(2) })).toBe(1);
    expect((await h.store.patients.findOne({ _id: seedKey(2) }))!.fullname).toBe('changed name');
  });

  it('when the same job is delivered again, then nothing changes and the outcome is unchanged', async () => {
    const res = await post(h.app, { ...SEED_SAMPLE, id: 3 });
    const { job } = await h.settled(res.json().jobId);
    const before = await h.store.patients.findOne({ _id: seedKey(3) });
    await job.retry('completed'); // BullMQ re-delivers the very same job
    const again = await h.settled(res.json().jobId);
    expect(again.result?.outcome).toBe('unchanged');
    expect(await h.store.patients.countDocuments({ _id: seedKey(3) })).toBe(1);
    expect((await h.store.patients.findOne({ _id: seedKey(3) }))!._ingest.version).toBe(before!._ingest.version);
  });

  it('when the body is not JSON or has no id, then a 4xx problem says why and nothing is enqueued', async () => {
    const before = await h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
    const notJson = await post(h.app, '{"id": 1, "fullname": ');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(notJson.json()).toMatchObject({ status: 400, detail: expect.stringMatching(/not valid JSON/) });

    const noId = await post(h.app, { fullname: 'x' });
    expect(noId.statusCode).toBe(400);
    expect(noId.json().errors).toEqual([{ path: 'id', message: expect.stringMatching(/required/) }]);

    const array = await post(h.app, [SEED_SAMPLE]);
    expect(array.statusCode).toBe(400);
    expect(array.json().errors[0]).toMatchObject({ path: '(body)' });

    expect(await h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed')).toBe(before);
  });

  it('when records flow through, then the logs carry ids and timings but no patient value', async () => {
    const marker = 'CANARY-' + Math.random().toString(36).slice(2);
    const ok = await post(h.app, { ...SEED_SAMPLE, id: 4, fullname: marker, hn: marker });
    await h.settled(ok.json().jobId);
    await post(h.app, { ...SEED_SAMPLE, id: 5, fullname: marker, isactive: 999 });
    const apiLines = h.apiLogs.lines();
    expect(apiLines.some((l) => l.msg === 'request' && l.jobId === ok.json().jobId && typeof l.ms === 'number')).toBe(true);
    // One line per job, with counts per outcome: the job that carried the record.
    const { job } = await h.settled(ok.json().jobId);
    expect(h.workerLogs.lines().some((l) => l.msg === 'job done' && l.jobId === job.id && l.records === 1 && l.inserted === 1)).toBe(true);
    expect(h.apiLogs.text()).not.toContain(marker);
    expect(h.workerLogs.text()).not.toContain(marker);
  });
});
