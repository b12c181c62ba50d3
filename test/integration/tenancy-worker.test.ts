import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey, type TestKey } from '../support/keys.ts';

// The worker side of the tenancy model: a record is stored under "<center_id>:<id>", so one center's
// id can neither reveal (no refusal, no different answer) nor block (no squatting) another center's.
// These are the review's reproductions (issue 16, finding 1), through the API and a real worker.
const center3 = makeKey('center-3', 'patients:write,patients:read', 'centers=3');
const center4 = makeKey('center-4', 'patients:write,patients:read', 'centers=4');
const center5 = makeKey('center-5', 'patients:read', 'centers=5');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(center3, center4, center5), CENTER_CLUSTERS: '{"3":2,"4":2,"5":7}' });
  h.startWorker();
});
afterAll(() => h.close());

const patient = (id: number, center: number, fullname: string) => ({ ...SEED_SAMPLE, id, center_id: center, cluster_id: center === 5 ? 7 : 2, fullname });
const postWaiting = (key: TestKey, body: object) =>
  h.app.inject({ method: 'POST', url: '/api/patients', payload: body, headers: { ...bearer(key), prefer: 'wait=20' } });
const get = (url: string, key: TestKey) => h.app.inject({ method: 'GET', url, headers: bearer(key) });

describe('one center\'s id neither reveals nor blocks another center\'s (worker)', () => {
  it('when center 4 stores 900001 and center 3 posts its own 900001 with Prefer: wait, then 201 with center 3\'s record, and center 4\'s stays as it was', async () => {
    expect((await postWaiting(center4, patient(900001, 4, 'four'))).statusCode).toBe(201);
    const before = await h.store.patients.findOne({ _id: '4:900001' });

    const res = await postWaiting(center3, patient(900001, 3, 'three'));
    expect(res.statusCode).toBe(201); // was 422 FORBIDDEN_TENANT "belongs to a center": the oracle
    expect(res.json()).toMatchObject({ id: 900001, center_id: 3, fullname: 'three' });
    expect(await h.store.patients.findOne({ _id: '4:900001' })).toEqual(before);
    expect((await get('/api/patients/900001', center4)).json()).toMatchObject({ center_id: 4, fullname: 'four' });
    expect((await get('/api/patients/900001', center3)).json()).toMatchObject({ center_id: 3, fullname: 'three' });
  });

  it('when center 3 posts 900002 first and center 4 then posts its own 900002, then both are stored and each center reads only its own', async () => {
    expect((await postWaiting(center3, patient(900002, 3, 'three first'))).statusCode).toBe(201);
    const res = await postWaiting(center4, patient(900002, 4, 'four second'));
    expect(res.statusCode).toBe(201); // was refused: center 3 had squatted the id
    expect(await h.store.patients.find({ id: 900002 }).sort({ _id: 1 }).map((d) => [d._id, d.center_id, d.fullname]).toArray()).toEqual([
      ['3:900002', 3, 'three first'],
      ['4:900002', 4, 'four second'],
    ]);
    expect((await get('/api/patients/900002', center3)).json()).toMatchObject({ center_id: 3, fullname: 'three first' });
    expect((await get('/api/patients/900002', center4)).json()).toMatchObject({ center_id: 4, fullname: 'four second' });
    expect((await get('/api/patients/900002', center5)).statusCode).toBe(404);
  });

  it('when an id another center uses is written, then its job status says exactly what a fresh id\'s says, and no dead letter is made', async () => {
    expect((await postWaiting(center4, patient(900004, 4, 'four'))).statusCode).toBe(201);
    const taken = await h.app.inject({ method: 'POST', url: '/api/patients', payload: patient(900004, 3, 'three'), headers: bearer(center3) });
    const fresh = await h.app.inject({ method: 'POST', url: '/api/patients', payload: patient(900003, 3, 'three'), headers: bearer(center3) });
    await Promise.all([h.settled(taken.json().jobId), h.settled(fresh.json().jobId)]);
    const status = async (url: string) => {
      const { jobId, patientId, receivedAt, processedAt, finishedAt, ...rest } = (await get(url, center3)).json();
      return { rest, fields: Object.keys({ jobId, patientId, receivedAt, processedAt, finishedAt, ...rest }).sort() };
    };
    const [a, b] = [await status(taken.json().statusUrl), await status(fresh.json().statusUrl)];
    expect(a.rest).toEqual({ state: 'stored', outcome: 'inserted', attempts: 1, error: null }); // was failed, FORBIDDEN_TENANT
    expect(a).toEqual(b);
    expect(await h.store.deadLetters.countDocuments({ jobId: { $in: [taken.json().jobId, fresh.json().jobId] } })).toBe(0);
  });

  it('when a record of an id another center uses is refused for good, then its dead letter names its own center and id only', async () => {
    const refs = await h.enqueueJob([{ patient: { ...patient(900001, 3, 'poison'), isactive: 999 }, receivedAt: Date.now(), submittedBy: 'center-3', tenant: { centers: [3], clusters: [] } }]);
    const { state, result } = await h.settled(refs[0]!);
    expect([state, result?.code]).toEqual(['failed', 'PATIENT_INVALID']);
    const letter = await h.store.deadLetters.findOne({ jobId: refs[0] });
    expect(letter).toMatchObject({ patientId: 900001, centerId: 3, errorCode: 'PATIENT_INVALID' });
    expect(`${letter?.errorCode} ${letter?.errorMessage}`).not.toMatch(/FORBIDDEN|tenant|center|four/i);
  });
});
