import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient-fields.ts';
import { patientKey } from '../../src/shared/patient-key.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';

// The tenancy model's read side: a record's identity is (center_id, id), stored as "<center>:<id>",
// and a key looks only under its own centers. Two centers may use the same id for different people.
const center3 = makeKey('center-3', 'patients:read', 'centers=3');
const center5 = makeKey('center-5', 'patients:read', 'centers=5');
const cluster2 = makeKey('cluster-2', 'patients:read', 'clusters=2');
const admin = makeKey('admin', 'admin');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(center3, center5, cluster2, admin), CENTER_CLUSTERS: '{"3":2,"4":2}' });
  const doc = (center: number, id: number, fullname: string) => ({
    ...SEED_SAMPLE, _id: patientKey(center, id), id, center_id: center, fullname, create_time: null, modify_time: null, followup_date: null,
    _ingest: { version: 'x', jobId: '0', receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  });
  await h.store.patients.insertMany([doc(3, 900001, 'three'), doc(4, 900001, 'four'), doc(4, 900002, 'four only')] as never[]);
});
afterAll(() => h.close());

const get = (url: string, key: { key: string }) => h.app.inject({ method: 'GET', url, headers: bearer(key) });

describe('patient keys', () => {
  it('when a storage key is made, then it is "<center>:<id>", "-:<id>" without a center', () => {
    expect([patientKey(3, 900001), patientKey(null, 7)]).toEqual(['3:900001', '-:7']);
  });

  it('when two centers use the same id, then each center key reads its own record and never the other', async () => {
    expect((await get('/api/patients/900001', center3)).json()).toMatchObject({ center_id: 3, fullname: 'three' });
    expect((await get('/api/patients/900002', center3)).statusCode).toBe(404);
    expect((await get('/api/patients/900001', center5)).statusCode).toBe(404);
    expect((await get('/api/patients/900001?center_id=4', center3)).statusCode).toBe(404);
  });

  it('when a key reaches several centers that use the id, then 409 asks for center_id, which then picks one', async () => {
    for (const key of [cluster2, admin]) {
      expect((await get('/api/patients/900001', key)).json()).toMatchObject({ status: 409, code: 'PATIENT_ID_AMBIGUOUS' });
      expect((await get('/api/patients/900001?center_id=4', key)).json()).toMatchObject({ center_id: 4, fullname: 'four' });
    }
    expect((await get('/api/patients/900002', cluster2)).json()).toMatchObject({ center_id: 4, fullname: 'four only' });
    expect((await get('/api/patients/900001?center_id=x', cluster2)).statusCode).toBe(400);
  });
});
