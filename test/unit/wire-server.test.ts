import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BSON, MongoBulkWriteError, MongoClient, MongoNetworkError, MongoNetworkTimeoutError, MongoServerError, MongoWriteConcernError, type Document, type MongoClientOptions } from 'mongodb';
import { until } from '../support/records.ts';
import { idKey, startWireServer, type WireServer } from '../support/wire-server.ts';

// The scripted wire server (test/support/wire-server.ts) against the real driver: what the driver
// sends and how it reads each reply, so write-layer tests built on it meet real driver code paths.

const servers: WireServer[] = [];
const clients: MongoClient[] = [];

afterEach(async () => {
  // Clients first: a client closing after its server would wait on server selection for endSessions.
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(options: MongoClientOptions = {}, before?: (server: WireServer) => void) {
  const server = await startWireServer();
  servers.push(server);
  before?.(server);
  const client = new MongoClient(server.url, options);
  clients.push(client);
  await client.connect();
  const patients = client.db('hemo').collection<Patient>('patients');
  return { server, client, patients, stored: server.collection('hemo', 'patients') };
}

type Patient = { _id: string; [field: string]: unknown };
/** The write errors of a bulkWrite failure, as an array (the driver's getter gives one or many). */
const writeErrorsOf = (err: unknown) => (err as MongoBulkWriteError).result.getWriteErrors();

/** The guarded replace of the write layer: replaces only an older or absent stored version, else E11000. */
const guardedReplace = (doc: { _id: string; _ingest: { version: string } }) => ({
  replaceOne: { filter: { _id: doc._id, '_ingest.version': { $not: { $gte: doc._ingest.version } } }, replacement: doc, upsert: true },
});

const WRITE_CONCERN_TIMEOUT = { code: 64, codeName: 'WriteConcernTimeout', errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } };

describe('the scripted wire server with the real driver', () => {
  it('when the driver connects with ?replicaSet=rs0, then buildInfo answers 8.0.4 and insertOne/findOne round-trip a document stored in the model', async () => {
    const { server, client, patients, stored } = await setup();
    expect((await client.db('admin').admin().command({ buildInfo: 1 })).version).toBe('8.0.4');
    await patients.insertOne({ _id: 'p1', name: 'A', _ingest: { version: 'v1' } });
    expect(stored.get(idKey('p1'))).toEqual({ _id: 'p1', name: 'A', _ingest: { version: 'v1' } });
    // Read back through the model, not an echo of the insert: a seeded document comes back too.
    stored.set(idKey('p2'), { _id: 'p2', name: 'B', _ingest: { version: 'v9' } });
    expect(await patients.findOne({ _id: 'p1' })).toEqual({ _id: 'p1', name: 'A', _ingest: { version: 'v1' } });
    expect(await patients.find({ _id: { $in: ['p2', 'p3'] } }, { projection: { '_ingest.version': 1 } }).toArray()).toEqual([{ _id: 'p2', _ingest: { version: 'v9' } }]);
    expect(await patients.findOne({ _id: 'nope' })).toBeNull();
    // The driver's first handshake is the legacy `ismaster` over OP_QUERY; once helloOk, monitors say `hello` over OP_MSG.
    const handshakes = server.commands('ismaster');
    expect(handshakes.length).toBeGreaterThanOrEqual(2); // the monitor's connection and the pool's
    expect(handshakes.every((h) => h.opCode === 2004 && h.db === 'admin' && h.body.helloOk === true)).toBe(true);
    expect(server.commands('insert')[0]).toMatchObject({ opCode: 2013, db: 'hemo', body: { insert: 'patients', ordered: true, documents: [{ _id: 'p1' }] } });
  });

  it('when an unordered bulkWrite inserts a duplicate _id among others, then the driver throws MongoBulkWriteError with one 11000 at its index and the others are stored', async () => {
    const { patients, stored } = await setup();
    stored.set(idKey('p2'), { _id: 'p2', name: 'stored first' });
    const err = await patients
      .bulkWrite(['p1', 'p2', 'p3'].map((_id) => ({ insertOne: { document: { _id, name: 'new' } } })), { ordered: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    const bulk = err as MongoBulkWriteError;
    expect(writeErrorsOf(bulk)).toHaveLength(1);
    expect(writeErrorsOf(bulk)[0]).toMatchObject({ index: 1, code: 11000 });
    expect(writeErrorsOf(bulk)[0]!.errmsg).toBe('E11000 duplicate key error collection: hemo.patients index: _id_ dup key: { _id: "p2" }');
    expect(bulk.insertedCount).toBe(2);
    expect([...stored.values()].map((d) => [d._id, d.name])).toEqual([['p2', 'stored first'], ['p1', 'new'], ['p3', 'new']]);
  });

  it('when an ordered insert meets a duplicate _id, then the documents after it are not stored', async () => {
    const { patients, stored } = await setup();
    stored.set(idKey('p2'), { _id: 'p2' });
    const err = await patients.insertMany([{ _id: 'p1' }, { _id: 'p2' }, { _id: 'p3' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    expect(writeErrorsOf(err).map((e) => e.index)).toEqual([1]);
    expect([...stored.keys()].sort()).toEqual([idKey('p1'), idKey('p2')]);
  });

  it('when the guarded replace with upsert meets a newer stored version, then E11000 leaves it; an older one is replaced; none is upserted', async () => {
    const { patients, stored } = await setup();
    const newer = { _id: 'p1', name: 'newer', _ingest: { version: 'v5' } };
    stored.set(idKey('p1'), newer);
    const err = await patients.bulkWrite([guardedReplace({ _id: 'p1', _ingest: { version: 'v3' } })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    expect(writeErrorsOf(err)[0]).toMatchObject({ code: 11000, index: 0 });
    expect(stored.get(idKey('p1'))).toEqual(newer);
    // A bulk WriteError keeps code, index, errmsg, errInfo; a single replaceOne throws the server's whole error.
    const single = await patients.replaceOne({ _id: 'p1', '_ingest.version': { $not: { $gte: 'v4' } } }, { _ingest: { version: 'v4' } }, { upsert: true }).catch((e: unknown) => e);
    expect(single).toBeInstanceOf(MongoServerError);
    expect(single).toMatchObject({ code: 11000, keyPattern: { _id: 1 }, keyValue: { _id: 'p1' } });
    expect(stored.get(idKey('p1'))).toEqual(newer);

    const replaced = await patients.bulkWrite([guardedReplace({ _id: 'p1', _ingest: { version: 'v7' } })]);
    expect([replaced.matchedCount, replaced.modifiedCount, replaced.upsertedCount]).toEqual([1, 1, 0]);
    expect(stored.get(idKey('p1'))).toEqual({ _id: 'p1', _ingest: { version: 'v7' } });

    const upserted = await patients.bulkWrite([guardedReplace({ _id: 'p9', _ingest: { version: 'v1' } })]);
    expect([upserted.matchedCount, upserted.upsertedCount, upserted.upsertedIds]).toEqual([0, 1, { 0: 'p9' }]);
    expect(stored.get(idKey('p9'))).toEqual({ _id: 'p9', _ingest: { version: 'v1' } });

    // A document written before the service (no version) counts as older; the same replacement again is matched, not modified.
    stored.set(idKey('legacy'), { _id: 'legacy', name: 'old' });
    const again = { _id: 'legacy', _ingest: { version: 'v1' } };
    expect((await patients.replaceOne({ _id: 'legacy', '_ingest.version': { $not: { $gte: 'v1' } } }, again, { upsert: true })).modifiedCount).toBe(1);
    const same = await patients.replaceOne({ _id: 'legacy', '_ingest.version': 'v1' }, again);
    expect([same.matchedCount, same.modifiedCount]).toEqual([1, 0]);
  });

  it('when versions differ above U+FFFF, then the guard orders them by UTF-8 bytes as MongoDB does, not by UTF-16 units', async () => {
    const { patients, stored } = await setup();
    // U+10000 is F0 90 80 80 in UTF-8 (after U+FFFF, EF BF BF) but D800 DC00 in UTF-16 (before U+FFFF).
    stored.set(idKey('p1'), { _id: 'p1', _ingest: { version: 'v\u{10000}' } });
    const err = await patients.bulkWrite([guardedReplace({ _id: 'p1', _ingest: { version: 'v\uFFFF' } })]).catch((e: unknown) => e);
    expect(writeErrorsOf(err)[0]?.code).toBe(11000);
    expect(stored.get(idKey('p1'))!._ingest.version).toBe('v\u{10000}');
  });

  it('when an update is scripted to apply and then return a writeConcernError, then the driver throws it and the model holds the document', async () => {
    const { server, patients, stored } = await setup();
    server.script('update', (_cmd, ctx) => ({ ...ctx.apply(), writeConcernError: WRITE_CONCERN_TIMEOUT }), (_cmd, ctx) => ({ ...ctx.apply(), writeConcernError: WRITE_CONCERN_TIMEOUT }));

    const err = await patients.bulkWrite([guardedReplace({ _id: 'p1', _ingest: { version: 'v1' } })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    const bulk = err as MongoBulkWriteError;
    expect(bulk.result.getWriteConcernError()).toMatchObject({ code: 64 });
    expect(writeErrorsOf(bulk)).toHaveLength(0);
    expect(bulk.result.upsertedCount).toBe(1);
    expect(stored.get(idKey('p1'))).toEqual({ _id: 'p1', _ingest: { version: 'v1' } });

    const single = await patients.replaceOne({ _id: 'p1' }, { _ingest: { version: 'v2' } }).catch((e: unknown) => e);
    expect(single).toBeInstanceOf(MongoWriteConcernError);
    expect((single as MongoWriteConcernError).code).toBe(64);
    expect(stored.get(idKey('p1'))).toEqual({ _id: 'p1', _ingest: { version: 'v2' } });
    // Code 64 carries no RetryableWriteError label: no retry, one update command each.
    expect(server.commands('update')).toHaveLength(2);
    expect(server.pending('update')).toBe(0);
  });

  it('when the first insert is applied and its connection closed before the reply, then the driver retries with the same txnNumber and gets the remembered reply', async () => {
    const { server, patients, stored } = await setup();
    server.script('insert', { $close: 'after' });
    const result = await patients.insertOne({ _id: 'p1', name: 'A' });
    expect(result.insertedId).toBe('p1');
    const inserts = server.commands('insert');
    expect(inserts).toHaveLength(2);
    expect(inserts[1]!.body.txnNumber).toBe(inserts[0]!.body.txnNumber);
    expect(inserts[1]!.body.lsid).toEqual(inserts[0]!.body.lsid);
    expect(inserts[1]!.connectionId).not.toBe(inserts[0]!.connectionId); // the pool was cleared: a new connection
    // Re-applied, the retry would have met its own first write: E11000, and insertOne would have thrown.
    expect([...stored.values()]).toEqual([{ _id: 'p1', name: 'A' }]);
    expect(server.pending('insert')).toBe(0);
  });

  it('when the connection closes before an insert is applied, then the retry applies it', async () => {
    const { server, patients, stored } = await setup();
    server.script('insert', { $close: 'before' });
    await patients.insertOne({ _id: 'p1' });
    expect(server.commands('insert')).toHaveLength(2);
    expect([...stored.keys()]).toEqual([idKey('p1')]);
  });

  it('when an insert answers ShutdownInProgress with the RetryableWriteError label, then the driver retries and succeeds', async () => {
    const { server, patients, stored } = await setup();
    server.script('insert', { ok: 0, code: 91, codeName: 'ShutdownInProgress', errmsg: 'The server is in quiesce mode and will shut down', errorLabels: ['RetryableWriteError'] });
    await patients.insertOne({ _id: 'p1' });
    const inserts = server.commands('insert');
    expect(inserts).toHaveLength(2);
    expect(inserts[1]!.body.txnNumber).toBe(inserts[0]!.body.txnNumber);
    expect(inserts[1]!.connectionId).not.toBe(inserts[0]!.connectionId); // a shutdown error clears the pool
    expect([...stored.keys()]).toEqual([idKey('p1')]);
  });

  it('when an insert answers NotWritablePrimary without a label, then the driver (wire version 25) does not retry and nothing is stored', async () => {
    const { server, patients, stored } = await setup();
    server.script('insert', { ok: 0, code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary' });
    const err = await patients.insertOne({ _id: 'p1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(10107);
    expect(server.commands('insert')).toHaveLength(1);
    expect(stored.size).toBe(0);
  });

  it('when a bulkWrite has more ops than maxWriteBatchSize, then the driver splits it into several insert commands', async () => {
    const { server, patients, stored } = await setup({}, (s) => (s.hello = { maxWriteBatchSize: 3 }));
    const result = await patients.bulkWrite(Array.from({ length: 7 }, (_, i) => ({ insertOne: { document: { _id: `p${i}` } } })));
    expect(result.insertedCount).toBe(7);
    const inserts = server.commands('insert');
    // Driver 7.9's bulk API closes a batch when `size + 1 >= maxWriteBatchSize`: at most maxWriteBatchSize - 1 ops each.
    expect(inserts.map((c) => (c.body.documents as Document[]).length)).toEqual([2, 2, 2, 1]);
    // Each batch is its own retryable write: its own txnNumber in the one session.
    expect(new Set(inserts.map((c) => c.body.txnNumber)).size).toBe(4);
    expect(stored.size).toBe(7);
  });

  it('when an insert hangs and the client has socketTimeoutMS 300, then it fails with a network timeout instead of hanging', async () => {
    const { server, patients, stored } = await setup({ socketTimeoutMS: 300, retryWrites: false });
    server.script('insert', { $hang: true });
    const err = await patients.insertOne({ _id: 'p1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoNetworkTimeoutError);
    expect(err).toBeInstanceOf(MongoNetworkError);
    expect(stored.size).toBe(0);
    // The timeout is the operation's: the client is still usable.
    await patients.insertOne({ _id: 'p2' });
    expect([...stored.keys()]).toEqual([idKey('p2')]);
  });

  it('when an insert hangs twice with retryWrites on, then the driver retries the timeout once and fails', async () => {
    const { server, patients } = await setup({ socketTimeoutMS: 300 });
    server.script('insert', { $hang: true }, { $hang: true });
    const err = await patients.insertOne({ _id: 'p1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoNetworkTimeoutError);
    expect(server.commands('insert')).toHaveLength(2);
    expect(server.pending('insert')).toBe(0);
  });

  it('when a w:0 insert is sent, then it comes with moreToCome, is applied, and no reply confuses the next command', async () => {
    const { server, patients, stored } = await setup({ maxPoolSize: 1 });
    await patients.insertOne({ _id: 'p1' }, { writeConcern: { w: 0 } });
    // One connection, served in order: the find is answered after the insert was applied.
    expect(await patients.findOne({ _id: 'p1' })).toEqual({ _id: 'p1' });
    expect(server.commands('insert')[0]!.moreToCome).toBe(true);
    expect(stored.size).toBe(1);
  });

  it('when a command is unknown or buildInfo is overridden, then the driver sees CommandNotFound and the override', async () => {
    const { server, client } = await setup();
    const err = await client.db('hemo').command({ frobnicate: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(59);
    expect((err as MongoServerError).message).toBe("no such command: 'frobnicate'");
    server.buildInfo = { ferretdbVersion: 'v1.24.2' };
    expect(await client.db('admin').command({ buildInfo: 1 })).toMatchObject({ version: '8.0.4', ferretdbVersion: 'v1.24.2' });
    // A filter the model does not know is refused by name, never answered with a guess.
    const unsupported = await client.db('hemo').collection('patients').findOne({ name: { $regex: 'A' } }).catch((e: unknown) => e);
    expect((unsupported as MongoServerError).codeName).toBe('BadValue');
  });

  it('when the hello override makes the member a secondary, then a write finds no primary', async () => {
    const server = await startWireServer();
    servers.push(server);
    server.hello = { isWritablePrimary: false, secondary: true };
    const client = new MongoClient(server.url, { serverSelectionTimeoutMS: 300 });
    clients.push(client);
    const err = await client.db('hemo').collection<Patient>('patients').insertOne({ _id: 'p1' }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('MongoServerSelectionError');
    expect(server.collection('hemo', 'patients').size).toBe(0);
  });
});

describe('the wire server framing', () => {
  /** A raw OP_MSG of one body, as the driver would send it. */
  const opMsg = (requestId: number, body: Document, flags = 0) => {
    const bson = BSON.serialize(body);
    const frame = Buffer.alloc(21 + bson.length);
    frame.writeInt32LE(frame.length, 0);
    frame.writeInt32LE(requestId, 4);
    frame.writeInt32LE(2013, 12);
    frame.writeUInt32LE(flags, 16);
    Buffer.from(bson).copy(frame, 21);
    return frame;
  };

  /** Connects and collects whole replies as { responseTo, doc }; `closedNow` settles when the server closes. */
  async function rawClient(server: WireServer) {
    const socket: Socket = connect(server.port, server.host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const replies: { responseTo: number; doc: Document }[] = [];
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const frame = pending.subarray(0, pending.readInt32LE(0));
        pending = pending.subarray(frame.length);
        replies.push({ responseTo: frame.readInt32LE(8), doc: BSON.deserialize(frame.subarray(21)) });
      }
    });
    socket.on('error', () => {});
    const closedNow = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, replies, closedNow };
  }

  const replies = (raw: { replies: unknown[] }, n: number) => until(`${n} replies`, 2_000, async () => raw.replies.length === n, 10, async () => raw.replies);

  it('when a frame arrives byte by byte and two frames arrive in one chunk, then each gets its own reply in order', async () => {
    const server = await startWireServer();
    servers.push(server);
    const raw = await rawClient(server);
    const first = opMsg(7, { ping: 1, $db: 'admin' });
    for (const byte of first) raw.socket.write(Buffer.from([byte]));
    raw.socket.write(Buffer.concat([opMsg(8, { ping: 1, $db: 'admin' }), opMsg(9, { buildInfo: 1, $db: 'admin' })]));
    await replies(raw, 3);
    expect(raw.replies.map((r) => [r.responseTo, r.doc.ok])).toEqual([[7, 1], [8, 1], [9, 1]]);
    expect(raw.replies[2]!.doc.version).toBe('8.0.4');
    raw.socket.destroy();
  });

  it('when a document sequence and a checksum come with the body, then the sequence is merged under its identifier', async () => {
    const server = await startWireServer();
    servers.push(server);
    const raw = await rawClient(server);
    const body = BSON.serialize({ insert: 'patients', $db: 'hemo' });
    const docs = [BSON.serialize({ _id: 'a' }), BSON.serialize({ _id: 'b' })];
    const id = Buffer.from('documents\0');
    const seqSize = 4 + id.length + docs.reduce((n, d) => n + d.length, 0);
    const head = Buffer.alloc(20);
    const seqHead = Buffer.alloc(5);
    seqHead[0] = 1;
    seqHead.writeInt32LE(seqSize, 1);
    const frame = Buffer.concat([head, Buffer.from([0]), body, seqHead, id, ...docs, Buffer.alloc(4)]);
    frame.writeInt32LE(frame.length, 0);
    frame.writeInt32LE(5, 4);
    frame.writeInt32LE(2013, 12);
    frame.writeUInt32LE(1, 16); // checksumPresent: the 4 trailing bytes are not a section
    raw.socket.write(frame);
    await replies(raw, 1);
    expect(raw.replies[0]!.doc).toEqual({ n: 2, ok: 1 });
    expect(server.commands('insert')[0]!.body.documents).toEqual([{ _id: 'a' }, { _id: 'b' }]);
    expect([...server.collection('hemo', 'patients').keys()]).toEqual([idKey('a'), idKey('b')]);
    raw.socket.destroy();
  });

  it('when a frame announces more than 48 MB or comes as OP_COMPRESSED, then the server closes the connection', async () => {
    const server = await startWireServer();
    servers.push(server);
    const big = await rawClient(server);
    const header = Buffer.alloc(16);
    header.writeInt32LE(48 * 1024 * 1024 + 1, 0);
    header.writeInt32LE(2013, 12);
    big.socket.write(header);
    await big.closedNow;
    const compressed = await rawClient(server);
    const frame = opMsg(1, { ping: 1, $db: 'admin' });
    frame.writeInt32LE(2012, 12);
    compressed.socket.write(frame);
    await compressed.closedNow;
    expect([big.replies.length, compressed.replies.length]).toEqual([0, 0]);
    // The server itself goes on: a new connection is answered.
    const after = await rawClient(server);
    after.socket.write(opMsg(2, { ping: 1, $db: 'admin' }));
    await replies(after, 1);
    after.socket.destroy();
  });
});
