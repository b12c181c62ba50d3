import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { post } from '../support/http.ts';
import { jobIdsOf, refParts } from '../support/records.ts';

// Tenancy: the tenant comes from the key. Clusters are groups of centers configured in
// CENTER_CLUSTERS (cluster 2 = centers 3 and 4 here, center 5 is in cluster 7); a record's cluster_id
// never grants anything. A record's identity is (center_id, id), stored as "<center>:<id>", and a
// key looks only under its own centers: two centers may use the same id for different people.
const center3 = makeKey('center-3', 'patients:read', 'centers=3');
const center5 = makeKey('center-5', 'patients:read', 'centers=5');
const cluster2 = makeKey('cluster-2', 'patients:write,patients:read', 'clusters=2');
const admin = makeKey('admin', 'admin');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(center3, center5, cluster2, admin), CENTER_CLUSTERS: '{"3":2,"4":2,"5":7}' });
  const doc = (center: number, id: number, fullname: string) => ({
    ...SEED_SAMPLE, _id: patientKey(center, id), id, center_id: center, fullname, create_time: null, modify_time: null, followup_date: null,
    _ingest: { version: 'x', jobId: '0', receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  });
  await h.store.patients.insertMany([doc(3, 900001, 'three'), doc(4, 900001, 'four'), doc(4, 900002, 'four only')] as never[]);
});
afterAll(() => h.close());

const get = (url: string, key: { key: string }) => h.app.inject({ method: 'GET', url, headers: bearer(key) });
const jobCount = () => h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');


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

describe('clusters come from CENTER_CLUSTERS, never from the body', () => {
  const stored = (id: number, center: number, cluster: number | null) => ({
    ...SEED_SAMPLE, _id: patientKey(center, id), id, center_id: center, cluster_id: cluster, create_time: null, modify_time: null, followup_date: null,
    _ingest: { version: 'x', jobId: '0', receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  });

  it('when a cluster key posts a center mapped to its cluster, then 202; another cluster\'s center, 403, whatever cluster_id the body names', async () => {
    expect((await post(h.app, { ...SEED_SAMPLE, center_id: 4, cluster_id: 2 }, { headers: bearer(cluster2) })).statusCode).toBe(202);
    expect((await post(h.app, { ...SEED_SAMPLE, center_id: 4, cluster_id: null }, { headers: bearer(cluster2) })).statusCode).toBe(202);
    const other = await post(h.app, { ...SEED_SAMPLE, center_id: 5, cluster_id: 7 }, { headers: bearer(cluster2) });
    expect(other.json()).toMatchObject({ status: 403, code: 'FORBIDDEN_TENANT' });
  });

  it('when a cluster key posts a batch of its clusters\' centers and another cluster\'s, then the others are accepted and that item alone is refused by index', async () => {
    const items = [{ ...SEED_SAMPLE, id: 601, center_id: 3 }, { ...SEED_SAMPLE, id: 602, center_id: 5, cluster_id: 7 }, { ...SEED_SAMPLE, id: 603, center_id: 4, cluster_id: null }];
    const res = await post(h.app, items, { url: '/api/patients/batch', headers: bearer(cluster2) });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: 1 });
    expect(res.json().results[1]).toEqual({ index: 1, errors: [{ path: 'center_id', message: 'this API key may not write patients of this center' }] });
    // What Redis holds is exactly the two accepted records, each under its own reference.
    const refs: string[] = [0, 2].map((i) => res.json().results[i].jobId);
    const queued = await Promise.all(refs.map(async (ref) => (await h.recordResult(ref)).job?.data.records[refParts(ref).index]?.patient.id));
    expect(queued).toEqual([601, 603]);
    const jobs = await Promise.all(jobIdsOf(refs).map((id) => h.queue.getJob(id)));
    expect(jobs.flatMap((j) => j!.data.records.map((r) => r.patient.id))).toEqual([601, 603]);
  });

  it('when the body\'s cluster_id disagrees with the configured cluster of its center, then 400 naming cluster_id', async () => {
    const before = await jobCount();
    // Center 5 is in cluster 7: a body claiming cluster 2 must not open it to cluster 2's keys.
    for (const body of [{ ...SEED_SAMPLE, center_id: 5, cluster_id: 2 }, { ...SEED_SAMPLE, center_id: 6, cluster_id: 2 }]) {
      const res = await post(h.app, body, { headers: bearer(cluster2) });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([{ path: 'cluster_id', message: expect.stringMatching(/CENTER_CLUSTERS/) }]);
    }
    expect(await jobCount()).toBe(before);
  });

  it('when a cluster key reads, then it sees its clusters\' centers and not a record merely labelled with its cluster', async () => {
    await h.store.patients.insertMany([stored(402, 4, null), stored(501, 5, 2)] as never[]);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/402', headers: bearer(cluster2) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/501', headers: bearer(cluster2) })).statusCode).toBe(404);
  });

  it('when a cluster key reuses the id of another cluster\'s record labelled with its cluster, then the worker stores its own center\'s record and the other stays untouched', async () => {
    await h.store.patients.insertOne(stored(502, 5, 2) as never);
    h.startWorker();
    const res = await post(h.app, { ...SEED_SAMPLE, id: 502, center_id: 4, cluster_id: 2, fullname: 'moved', modify_time: '2026-01-01T00:00:00Z' }, { headers: bearer(cluster2) });
    expect(res.statusCode).toBe(202);
    const { state, result } = await h.settled(res.json().jobId);
    expect([state, result?.outcome]).toEqual(['completed', 'inserted']);
    expect(await h.store.patients.findOne({ _id: patientKey(5, 502) })).toMatchObject({ center_id: 5, fullname: SEED_SAMPLE.fullname });
    expect(await h.store.patients.findOne({ _id: patientKey(4, 502) })).toMatchObject({ center_id: 4, fullname: 'moved' });
    await h.stopWorker();
  });
});
