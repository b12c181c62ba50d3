import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { createPatientStore } from '../../src/worker/write/batch-write.ts';
import { createWriteLock } from '../../src/worker/write/write-lock.ts';
import { chooseStrategy, ferretStrategy, mongoStrategy } from '../../src/worker/write/write-strategy.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { patientDoc, seedKey } from '../support/patient-docs.ts';
import { until } from '../support/fault-env.ts';

// The write path against the real embedded server: the MongoDB strategy's filter semantics (type
// rules of the guard, keys per center) run on it too, one write per call, since FerretDB
// cannot report per-op errors of a bulk.

let h: Harness;
const redis = () => {
  const r = createRedis(h.config.REDIS_URL, 'worker');
  r.on('error', () => {});
  return r;
};
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

describe('documents stored before this service (no _ingest metadata)', () => {
  it('when a migrated patient without _ingest is submitted again through the API, then the worker updates it', async () => {
    await h.store.patients.insertOne({ ...patientDoc(501, 1), _ingest: undefined } as never);
    await h.store.patients.updateOne({ _id: seedKey(501) }, { $unset: { _ingest: '' } });
    h.startWorker();
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...SEED_SAMPLE, id: 501, fullname: 'after migration' }) });
    const { state, job, result } = await h.settled(res.json().jobId);
    expect([state, result?.outcome, job.failedReason]).toEqual(['completed', 'updated', undefined]);
    expect(await h.store.patients.findOne({ _id: seedKey(501) })).toMatchObject({ fullname: 'after migration', _ingest: { jobId: res.json().jobId } });
  });

  it('when the MongoDB path writes over a missing, null or numeric stored version, then each is older and updated', async () => {
    const store = createPatientStore({ patients: h.store.patients, strategy: mongoStrategy('majority') });
    await h.store.patients.insertMany([
      { ...patientDoc(511, 1), _ingest: undefined },
      { ...patientDoc(512, 1), _ingest: { version: null } },
      { ...patientDoc(513, 1), _ingest: { version: 99 } },
    ] as never[]);
    await h.store.patients.updateOne({ _id: seedKey(511) }, { $unset: { _ingest: '' } });
    for (const id of [511, 512, 513]) expect(await store.write([{ doc: patientDoc(id, 2) }]), String(id)).toEqual([{ ok: true, outcome: 'updated' }]);
    expect(await h.store.patients.countDocuments({ _id: { $in: [511, 512, 513].map(seedKey) }, fullname: /version 2$/ })).toBe(3);
  });
});

describe('the MongoDB path: guarded replace keyed by (center_id, id)', () => {
  it('when another center stores the same id, then each write lands under its own center\'s key and never touches the other', async () => {
    const store = createPatientStore({ patients: h.store.patients, strategy: mongoStrategy('majority') });
    await h.store.patients.insertOne(patientDoc(520, 9, { center_id: 4, cluster_id: 2 }));
    expect(await store.write([{ doc: patientDoc(520, 1) }])).toEqual([{ ok: true, outcome: 'inserted' }]);
    expect(await store.write([{ doc: patientDoc(520, 2) }])).toEqual([{ ok: true, outcome: 'updated' }]);
    expect(await h.store.patients.findOne({ _id: '4:520' })).toMatchObject({ center_id: 4, fullname: 'patient 520 version 9' });
    expect(await h.store.patients.findOne({ _id: '3:520' })).toMatchObject({ center_id: 3, fullname: 'patient 520 version 2' });
  });

  it('when an older or the same version arrives, then it is stale or unchanged and the stored one stays', async () => {
    const store = createPatientStore({ patients: h.store.patients, strategy: mongoStrategy('majority') });
    await store.write([{ doc: patientDoc(530, 5) }]);
    expect(await store.write([{ doc: patientDoc(530, 4) }])).toEqual([{ ok: true, outcome: 'stale' }]);
    expect(await store.write([{ doc: patientDoc(530, 5) }])).toEqual([{ ok: true, outcome: 'unchanged' }]);
    expect(await h.store.patients.findOne({ _id: seedKey(530) })).toMatchObject({ fullname: 'patient 530 version 5' });
  });
});

describe('the embedded server (FerretDB): lock, then the same guarded write, each sent alone', () => {
  it('when the server is FerretDB, then buildInfo picks the lock-and-one-op-at-a-time strategy', async () => {
    const r = redis();
    try {
      const strategy = await chooseStrategy(h.store.db, h.config.MONGO_WRITE_CONCERN, () => ferretStrategy(createWriteLock(r, `${h.config.QUEUE_PREFIX}:wl:${h.config.MONGO_DB}`, 5000), 100));
      expect({ name: strategy.name, exactBulkErrors: strategy.exactBulkErrors }).toEqual({ name: 'ferretdb', exactBulkErrors: false });
    } finally {
      r.disconnect();
    }
  });

  it('when one stored patient of a batch stays locked elsewhere, then only its item fails PATIENT_BUSY (retryable) and the others are written', async () => {
    const r = redis();
    const prefix = `${h.config.QUEUE_PREFIX}:wl:${h.config.MONGO_DB}`;
    try {
      await h.store.patients.insertOne(patientDoc(541, 1));
      const elsewhere = await createWriteLock(r, prefix, 10_000).acquire([seedKey(541)]);
      expect(elsewhere.held.has(seedKey(541))).toBe(true);
      const store = createPatientStore({ patients: h.store.patients, strategy: ferretStrategy(createWriteLock(r, prefix, 5000), 200) });
      // 540 and 542 are new: their inserts need no lock. 541 is stored: its guarded replace needs the lock.
      const results = await store.write([{ doc: patientDoc(540, 1) }, { doc: patientDoc(541, 2) }, { doc: patientDoc(542, 1) }]);
      expect(results[0]).toEqual({ ok: true, outcome: 'inserted' });
      expect(results[1]).toMatchObject({ ok: false, error: { code: 'PATIENT_BUSY', permanent: false } });
      expect(results[2]).toEqual({ ok: true, outcome: 'inserted' });
      expect((await h.store.patients.findOne({ _id: seedKey(541) }))?._ingest.version).toBe(patientDoc(541, 1)._ingest.version);
      await elsewhere.release();
    } finally {
      r.disconnect();
    }
  });

  it('when a batch mixes new, newer, stale versions and an id another center stores, then each item gets its own outcome from one call', async () => {
    const r = redis();
    try {
      await h.store.patients.insertMany([patientDoc(551, 5), patientDoc(552, 5), patientDoc(553, 5, { center_id: 8, cluster_id: 9 })]);
      const store = createPatientStore({ patients: h.store.patients, strategy: ferretStrategy(createWriteLock(r, `${h.config.QUEUE_PREFIX}:wl:${h.config.MONGO_DB}`, 5000), 1000) });
      const results = await store.write([
        { doc: patientDoc(550, 1) }, { doc: patientDoc(551, 6) }, { doc: patientDoc(552, 4) }, { doc: patientDoc(553, 6) }, { doc: patientDoc(551, 5) },
      ]);
      // 553 is center 8's (stored as "8:553"): center 3's 553 is a new patient of its own.
      expect(results.map((x) => (x.ok ? x.outcome : x.error.code))).toEqual(['inserted', 'updated', 'stale', 'inserted', 'stale']);
      expect(await h.store.patients.findOne({ _id: '8:553' })).toMatchObject({ fullname: 'patient 553 version 5' });
    } finally {
      r.disconnect();
    }
  });
});

describe('indexes', () => {
  it('when a worker has started, then the dead-letter and audit indexes exist', async () => {
    h.startWorker();
    const names = async () => [...(await h.store.deadLetters.indexes()), ...(await h.store.audit.indexes())].map((i) => JSON.stringify(i.key));
    let seen: string[] = [];
    await until('indexes created', 10_000, async () => {
      seen = await names().catch(() => []);
      return seen.includes('{"replayedAt":1,"failedAt":1}') && seen.includes('{"entries.patientId":1,"at":1}');
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${seen.join(' ')}`);
    });
  });

  it('when AUDIT_RETENTION_DAYS is set on a server without TTL indexes (FerretDB), then the worker says so and still takes jobs', async () => {
    const other = await createHarness({ AUDIT_RETENTION_DAYS: '30' });
    try {
      other.startWorker();
      const res = await other.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...SEED_SAMPLE, id: 560 }) });
      expect((await other.settled(res.json().jobId)).state).toBe('completed');
      const warned = other.workerLogs.lines().some((l) => l.code === 'AUDIT_RETENTION_UNSUPPORTED');
      const ttl = (await other.store.audit.indexes()).some((i) => i.expireAfterSeconds === 30 * 86_400);
      expect(warned || ttl).toBe(true); // FerretDB: the warning; MongoDB (testcontainers): the TTL index
    } finally {
      await other.close();
    }
  });
});
