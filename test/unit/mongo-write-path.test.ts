import { MongoClient, type Collection } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord, PatientDocument } from '../../src/shared/mongo.ts';
import { createPatientSchema } from '../../src/shared/patient/patient-schema.ts';
import { createAuditLog } from '../../src/worker/audit.ts';
import { processPatientJob, type JobInput } from '../../src/worker/process-patient-job.ts';
import { createPatientStore, type PatientStore } from '../../src/worker/write/batch-write.ts';
import { chooseStrategy, ferretStrategy, mongoStrategy } from '../../src/worker/write/write-strategy.ts';
import { patientVersion } from '../support/fault-env.ts';
import { patientDoc } from '../support/patient-docs.ts';
import { idKey, startWireServer, type WireServer } from '../support/wire-server.ts';

// The MongoDB branch of the write path (issue 21) against the real driver 7.9, speaking OP_MSG to a
// scripted replica-set primary (test/support/wire-server.ts): the driver's batch splitting, retries
// and error building all run as they do in production; only the server's replies are scripted.
// Each test marked "fails on 058d750" was run against the write layer of that commit and failed there.

const WCE = { code: 64, codeName: 'WriteConcernTimeout', errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } };
const T = Date.UTC(2026, 0, 5);

let server: WireServer;
let client: MongoClient;
let patients: Collection<PatientDocument>;
let store: PatientStore;
const model = () => server.collection('hemo', 'patients');
const stored = (id: string) => model().get(idKey(id)) as PatientDocument | undefined;

beforeEach(async () => {
  server = await startWireServer();
  client = new MongoClient(server.url, { writeConcern: { w: 'majority', wtimeoutMS: 1000 }, socketTimeoutMS: 3000 });
  patients = client.db('hemo').collection<PatientDocument>('patients');
  store = createPatientStore({ patients, strategy: mongoStrategy('majority') });
});
afterEach(async () => {
  await client.close();
  await server.close();
});

/** Applies the command, then answers what it did with `extra` added (a write-concern error, ...). */
const appliedWith = (extra: object) => (_cmd: object, ctx: { apply: () => object }) => ({ ...ctx.apply(), ...extra });

describe('durability: a write-concern error leaves the record undecided', () => {
  it('when an insert is applied, times out waiting for the majority and is rolled back, then the record is not reported stored, and the retry stores it', async () => {
    // fails on 058d750: its confirming replace matched 0 documents and still counted as applied.
    server.script('insert', (cmd, ctx) => {
      const reply = ctx.apply();
      model().clear(); // the failover's rollback
      return { ...reply, writeConcernError: WCE };
    });
    const doc = patientDoc(1, 1);
    const [first] = await store.write([{ doc }]);
    expect(first).toMatchObject({ ok: false, error: { code: 'DB_NOT_DURABLE', permanent: false } });
    expect(stored(doc._id)).toBeUndefined();
    expect(await store.write([{ doc }])).toEqual([{ ok: true, outcome: 'inserted' }]);
    expect(stored(doc._id)?._ingest.version).toBe(doc._ingest.version);
  });

  it('when the insert meets a stored newer version while the majority is unreachable (E11000 and a write-concern error), then the record is not settled stale', async () => {
    // fails on 058d750: the refused op was settled "stale" from a local read, with nothing majority-committed.
    model().set(idKey(patientDoc(2, 9)._id), patientDoc(2, 9));
    server.script('insert', appliedWith({ writeConcernError: WCE }));
    const [result] = await store.write([{ doc: patientDoc(2, 5) }]);
    expect(result).toMatchObject({ ok: false, error: { code: 'DB_NOT_DURABLE' } });
    expect(server.commands('find')).toHaveLength(0);
  });

  it('when a refused guarded replace is settled, then the read asks for majority-committed versions', async () => {
    // fails on 058d750: it read with the default (local) read concern.
    model().set(idKey(patientDoc(3, 9)._id), patientDoc(3, 9));
    expect(await store.write([{ doc: patientDoc(3, 5) }])).toEqual([{ ok: true, outcome: 'stale' }]);
    expect(server.commands('find').map((c) => c.body.readConcern)).toEqual([{ level: 'majority' }]);
  });

  it('when the write concern is a number, then the settling read is local (what w:1 promises)', async () => {
    const local = createPatientStore({ patients, strategy: mongoStrategy(1) });
    model().set(idKey(patientDoc(4, 9)._id), patientDoc(4, 9));
    expect(await local.write([{ doc: patientDoc(4, 5) }])).toEqual([{ ok: true, outcome: 'stale' }]);
    expect(server.commands('find').map((c) => c.body.readConcern)).toEqual([{ level: 'local' }]);
  });

  it('when the replica set reports the write concern unsatisfiable (100), then the record is refused for good, not retried ten times', async () => {
    // fails on 058d750: 100 was DB_NOT_DURABLE, retryable.
    server.script('insert', appliedWith({ writeConcernError: { code: 100, codeName: 'UnsatisfiableWriteConcern', errmsg: 'Not enough data-bearing nodes' } }));
    const [result] = await store.write([{ doc: patientDoc(5, 1) }]);
    expect(result).toMatchObject({ ok: false, error: { code: 'DB_WRITE_CONCERN_INVALID', permanent: true } });
  });
});

describe('the outcome of a not-durable write is kept for the retry', () => {
  const schema = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });
  const job = (attemptsMade: number, earlier?: Awaited<ReturnType<typeof processPatientJob>>): JobInput => ({
    id: '41',
    data: { records: [{ patient: patientVersion(41, 1, T).patient, receivedAt: T }] },
    attemptsMade,
    decided: earlier?.results,
    tentative: earlier?.tentative,
  });

  it('when the first attempt inserts but times out waiting for the majority, then the retry that finds the version reports "inserted", not "unchanged"', async () => {
    // fails on 058d750: the retry reported "unchanged" (and the audit never said "inserted").
    server.script('insert', appliedWith({ writeConcernError: WCE }));
    // 058d750 confirmed with a replace of the same version: that one times out too. Today's code sends
    // no such replace; its retry's guarded replace takes this step and is answered as the model says.
    server.script('update', (cmd, ctx) => {
      const confirm = typeof (cmd.updates as { q: Record<string, unknown> }[])[0]!.q['_ingest.version'] === 'string';
      return confirm ? { ...ctx.apply(), writeConcernError: WCE } : ctx.apply();
    });
    const deps = { schema, write: store.write };
    const first = await processPatientJob(job(0), deps);
    expect([first.results[0], first.retry?.code]).toEqual([null, 'DB_NOT_DURABLE']);
    const second = await processPatientJob(job(1, first), deps);
    expect(second.retry).toBeUndefined();
    expect(second.results[0]).toMatchObject({ outcome: 'inserted', patientId: 41 });
  });
});

describe('what the driver does to a long bulk', () => {
  beforeEach(async () => {
    await client.close();
    server.hello = { maxWriteBatchSize: 3 };
    client = new MongoClient(server.url, { writeConcern: { w: 'majority', wtimeoutMS: 1000 }, socketTimeoutMS: 3000 });
    patients = client.db('hemo').collection<PatientDocument>('patients');
    store = createPatientStore({ patients, strategy: mongoStrategy('majority') });
  });

  it('when the first of three driver batches gets a write-concern error, then no record of the batches never sent is reported stored', async () => {
    // fails on 058d750: the ops missing from the write errors were assumed applied.
    server.script('insert', appliedWith({ writeConcernError: WCE }));
    const docs = [1, 2, 3, 4, 5, 6, 7].map((id) => patientDoc(100 + id, 1));
    const results = await store.write(docs.map((doc) => ({ doc })));
    const sent = server.commands('insert');
    expect(sent).toHaveLength(1); // the driver stopped at its first batch (it makes them below maxWriteBatchSize)
    const firstBatch = (sent[0]!.body.documents as unknown[]).length;
    expect(firstBatch).toBeLessThan(docs.length);
    expect(docs.filter((d) => stored(d._id)).length).toBe(firstBatch);
    expect(results.filter((r) => r.ok)).toEqual([]);
  });

  it('when a later driver batch loses its connection twice (no retry left) after an earlier one had a refusal, then no record but the refused one is decided', async () => {
    // fails on 058d750: the earlier batch's write error made every other op count as applied. Which
    // ops the first batch carried is the driver's business: all that were not refused stay undecided
    // (retried: the guarded write finds the ones stored).
    model().set(idKey(patientDoc(201, 9)._id), patientDoc(201, 9));
    server.script('insert', (_cmd, ctx) => ctx.apply(), { $close: 'before' }, { $close: 'before' });
    server.script('update', (_cmd, ctx) => ctx.apply());
    const docs = [1, 2, 3, 4, 5].map((id) => patientDoc(200 + id, 1));
    const results = await store.write(docs.map((doc) => ({ doc })));
    const byId = Object.fromEntries(docs.map((d, i) => [d.id, results[i]!.ok ? results[i]!.outcome : results[i]!.error.code]));
    expect(byId).toEqual({ 201: 'stale', 202: 'DB_UNAVAILABLE', 203: 'DB_UNAVAILABLE', 204: 'DB_UNAVAILABLE', 205: 'DB_UNAVAILABLE' });
    const firstBatch = (server.commands('insert')[0]!.body.documents as unknown[]).length;
    expect(firstBatch).toBeGreaterThan(1);
    expect(docs.filter((d) => stored(d._id)).map((d) => d.id)).toEqual(docs.slice(0, firstBatch).map((d) => d.id));
  });

  it('when the primary answers NotWritablePrimary once, then the driver retries the same statement and the record is stored once', async () => {
    server.script('insert', { ok: 0, code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary', errorLabels: ['RetryableWriteError'] });
    expect(await store.write([{ doc: patientDoc(301, 1) }])).toEqual([{ ok: true, outcome: 'inserted' }]);
    const inserts = server.commands('insert');
    expect(inserts).toHaveLength(2);
    expect(inserts[1]!.body.txnNumber).toEqual(inserts[0]!.body.txnNumber);
    expect(model().size).toBe(1);
  });
});

describe('what a refusal means', () => {
  it('when an E11000 names a unique index other than _id, then the record is refused for good instead of retried', async () => {
    // fails on 058d750: every 11000 was taken for the guard, so this one was retried without end.
    const dup = { index: 0, code: 11000, errmsg: 'E11000 duplicate key error collection: hemo.patients index: hn_unique dup key: { hn: "x" }' };
    server.script('insert', { ok: 1, n: 0, writeErrors: [dup] });
    server.script('update', { ok: 1, n: 0, nModified: 0, writeErrors: [dup] }, { ok: 1, n: 0, nModified: 0, writeErrors: [dup] });
    const [result] = await store.write([{ doc: patientDoc(401, 1) }]);
    expect(result).toMatchObject({ ok: false, error: { code: 'DB_REJECTED', permanent: true } });
  });

  it('when stored and incoming versions order differently as UTF-16 and as UTF-8 bytes, then the worker decides as the server\'s binary comparison does', async () => {
    // fails on 058d750: JavaScript's `<` took the older version for newer, and the write was retried without end.
    const base = patientDoc(402, 1);
    const older = { ...base, _ingest: { ...base._ingest, version: `${base._ingest.version}\uFF61` } };
    const newer = { ...base, _ingest: { ...base._ingest, version: `${base._ingest.version}\u{1F600}` } };
    model().set(idKey(base._id), newer);
    expect(await store.write([{ doc: older }])).toEqual([{ ok: true, outcome: 'stale' }]);
    expect(stored(base._id)?._ingest.version).toBe(newer._ingest.version);
  });
});

describe('the audit trail', () => {
  it('when an audit insert times out on its write concern and the job writes it again, then one document holds the entries', async () => {
    // fails on 058d750: the audit document had no fixed _id, and the second insert added a copy.
    const audit = createAuditLog(client.db('hemo').collection<AuditRecord>('audit'));
    const record: AuditRecord = { at: new Date(), jobId: '51', attempt: 1, entries: [{ keyId: null, centerId: 3, patientId: 51, jobId: '51-0', action: 'inserted' }] };
    server.script('insert', appliedWith({ writeConcernError: WCE }));
    await expect(audit.record(record, { queue: 'patients', indexes: [0] })).rejects.toThrow();
    await audit.record(record, { queue: 'patients', indexes: [0] });
    expect(server.collection('hemo', 'audit').size).toBe(1);
    await audit.record({ ...record, entries: [{ ...record.entries[0]!, jobId: '51-1' }] }, { queue: 'patients', indexes: [1] });
    expect(server.collection('hemo', 'audit').size).toBe(2);
  });
});

describe('what the server is, asked at start', () => {
  const db = () => client.db('hemo');
  const ferret = () => ferretStrategy({ acquire: async () => ({ held: new Set(), release: async () => {} }) }, 0);

  it('when the server is MongoDB 8, then the MongoDB strategy is chosen; when it says FerretDB, the FerretDB one', async () => {
    expect((await chooseStrategy(db(), 'majority', ferret)).name).toBe('mongodb');
    server.buildInfo = { ferretdbVersion: 'v1.24.2', version: '7.0.42' };
    expect((await chooseStrategy(db(), 'majority', ferret)).name).toBe('ferretdb');
  });

  it('when the server is MongoDB 5.0, then it is refused, naming what was found', async () => {
    // fails on 058d750: any server that was not FerretDB was written to as MongoDB.
    server.buildInfo = { version: '5.0.9', versionArray: [5, 0, 9, 0] };
    await expect(chooseStrategy(db(), 'majority', ferret)).rejects.toThrow(/MongoDB 5\.0\.9: MongoDB 6\.0 or later/);
  });

  it('when MONGO_WRITE_CONCERN asks more members than the replica set has, then it is refused, naming the variable', async () => {
    // fails on 058d750: nothing checked w; every write then failed with code 100 after the wait.
    await expect(chooseStrategy(db(), 3, ferret)).rejects.toMatchObject({ variable: 'MONGO_WRITE_CONCERN', message: expect.stringMatching(/is 3, but the server has 1 data-bearing member$/) });
    server.hello = { hosts: [`${server.host}:${server.port}`, 'b:27017', 'c:27017'] };
    expect((await chooseStrategy(db(), 3, ferret)).name).toBe('mongodb');
  });
});
