import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/shared/redis.ts';
import { createPatientStore, type PatientStore } from '../../src/worker/write/batch-write.ts';
import { migrateKeys, runMigrateKeys } from '../../src/worker/migrate-keys.ts';
import { createWriteLock, writeLockPrefix } from '../../src/worker/write/write-lock.ts';
import { chooseStrategy, ferretStrategy } from '../../src/worker/write/write-strategy.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { patientDoc } from '../support/patient-docs.ts';

// `npm run migrate-keys`: documents stored under the numeric id (before the (center_id, id) keys)
// move to "<center_id>:<id>" through the worker's write path, newest wins against whatever a new
// worker already wrote there; idempotent and resumable. Real server, real lock.

let h: Harness;
let redis: ReturnType<typeof createRedis>;
let writer: PatientStore;
beforeAll(async () => {
  h = await createHarness();
  redis = createRedis(h.config.REDIS_URL, 'worker');
  redis.on('error', () => {});
  const strategy = await chooseStrategy(h.store.db, h.config.MONGO_WRITE_CONCERN, () => ferretStrategy(createWriteLock(redis, writeLockPrefix(h.config), 5000), 2000));
  writer = createPatientStore({ patients: h.store.patients, strategy });
});
afterAll(async () => {
  redis.disconnect();
  await h.close();
});

/** Version `version` of patient `id` of `center` as the worker wrote it before the keys: `_id` = id. */
const legacy = (id: number, version: number, center: number | null = 3) => ({ ...patientDoc(id, version, { center_id: center }), _id: id });
const legacyCollection = () => h.store.db.collection<{ _id: number | string }>('patients');
const byKey = async (key: string) => (await h.store.patients.findOne({ _id: key }))?.fullname;
const env = () => ({ REDIS_URL: h.config.REDIS_URL, MONGO_URL: h.config.MONGO_URL, MONGO_DB: h.config.MONGO_DB, QUEUE_PREFIX: h.config.QUEUE_PREFIX });

describe('migrate-keys', () => {
  it('when legacy documents meet new-key ones, then newest wins for each, the legacy ones are gone, and a second run finds nothing', async () => {
    await legacyCollection().insertMany([
      legacy(601, 5), // nothing under the new key yet
      legacy(602, 3), // a new worker stored version 7 meanwhile: the legacy one is older
      legacy(603, 8), // a new worker stored version 4 meanwhile: the legacy one is newer
      legacy(604, 2, null), // no center: "-:604"
      { ...legacy(605, 1, 4), _ingest: undefined }, // written before this service (no version)
      legacy(606, 2), // a run stopped between copy and delete: the copy is there already
    ] as never[]);
    await h.store.patients.insertMany([patientDoc(602, 7), patientDoc(603, 4), patientDoc(606, 2)]);

    const report = await migrateKeys(h.store.patients, writer, { batchSize: 4 });
    expect(report).toEqual({ found: 6, moved: 5, superseded: 1, changedMeanwhile: 0, failed: {} });
    expect(await legacyCollection().countDocuments({ _id: { $in: [601, 602, 603, 604, 605, 606] } })).toBe(0);
    expect([await byKey('3:601'), await byKey('3:602'), await byKey('3:603'), await byKey('-:604'), await byKey('4:605'), await byKey('3:606')]).toEqual([
      'patient 601 version 5', 'patient 602 version 7', 'patient 603 version 8', 'patient 604 version 2', 'patient 605 version 1', 'patient 606 version 2',
    ]);
    expect(await h.store.patients.countDocuments({ id: { $gte: 601, $lte: 606 } })).toBe(6); // one per patient

    const before = await h.store.patients.find({ id: { $gte: 601, $lte: 606 } }).sort({ _id: 1 }).toArray();
    expect(await migrateKeys(h.store.patients, writer, { batchSize: 4 })).toEqual({ found: 0, moved: 0, superseded: 0, changedMeanwhile: 0, failed: {} });
    expect(await h.store.patients.find({ id: { $gte: 601, $lte: 606 } }).sort({ _id: 1 }).toArray()).toEqual(before);
  });

  it('when an old worker rewrites a legacy document during the copy, then it is kept (changedMeanwhile) and the next run (the command, exit 0) moves its newer version', async () => {
    await legacyCollection().insertOne(legacy(611, 1) as never);
    // The write path, with an older worker's write of version 2 landing right after the copy was read.
    const racing: PatientStore = {
      write: async (items) => {
        const results = await writer.write(items);
        await legacyCollection().replaceOne({ _id: 611 }, legacy(611, 2) as never);
        return results;
      },
    };
    expect(await migrateKeys(h.store.patients, racing, { batchSize: 10 })).toMatchObject({ found: 1, moved: 1, changedMeanwhile: 1 });
    expect(await byKey('3:611')).toBe('patient 611 version 1');

    const out: string[] = [];
    const code = await runMigrateKeys(['--batch', '10'], env(), (l) => out.push(l), (l) => out.push(l));
    expect([code, JSON.parse(out.join(''))]).toEqual([0, { found: 1, moved: 1, superseded: 0, changedMeanwhile: 0, failed: {} }]);
    expect(await byKey('3:611')).toBe('patient 611 version 2');
    expect(await legacyCollection().countDocuments({ _id: 611 })).toBe(0);
    expect((await h.store.patients.indexes()).map((i) => i.name)).toContain('id_across_centers');
  });

  it('when one center\'s patient is under both keys before the migration, then a read returns the newest of the two, and the same after it', async () => {
    await legacyCollection().insertOne(legacy(621, 5) as never);
    await h.store.patients.insertOne(patientDoc(621, 2)); // a new worker wrote an older version (it cannot see the legacy one)
    const read = async () => (await h.app.inject({ method: 'GET', url: '/api/patients/621' })).json();
    expect(await read()).toMatchObject({ id: 621, center_id: 3, fullname: 'patient 621 version 5' });
    expect(await migrateKeys(h.store.patients, writer, { batchSize: 10 })).toMatchObject({ found: 1, moved: 1 });
    expect(await read()).toMatchObject({ id: 621, center_id: 3, fullname: 'patient 621 version 5' });
  });

  it('when the command is called wrongly, then exit 2 with the usage and nothing is touched', async () => {
    const err: string[] = [];
    expect(await runMigrateKeys(['--batch', '0'], env(), () => {}, (l) => err.push(l))).toBe(2);
    expect(await runMigrateKeys(['extra'], env(), () => {}, (l) => err.push(l))).toBe(2);
    expect(err.join('')).toMatch(/^usage: migrate-keys/);
  });
});
