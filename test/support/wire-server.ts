// A scripted MongoDB wire-protocol server for UNIT tests: the real `mongodb` driver connects to it over
// loopback TCP and parses real replies, so the write layer meets the driver's own code paths (batch
// splitting, retryable writes, write-concern errors, error labels) without a mongod. It plays a
// MongoDB 8 replica-set primary ('rs0', one member) over a small in-memory model that knows exactly
// the command shapes our code sends; anything else answers an error that names what is missing, so
// a test never passes on a silently wrong answer. Tests script the next replies per command name.
//
// Wire format (all little-endian): a 16-byte header (messageLength, requestID, responseTo, opCode),
// then OP_MSG (flagBits, sections) or, for the driver's first handshake only, OP_QUERY / OP_REPLY.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { BSON, type Document } from 'mongodb';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;
/** mongod refuses messages over 48 MiB; the driver splits batches at maxMessageSizeBytes (48,000,000) below that. */
const MAX_FRAME_BYTES = 48 * 1024 * 1024;
/** Fixed, so the driver's stale-primary check (setVersion, electionId) always sees the same primary. */
const ELECTION_ID = new BSON.ObjectId('7fffffff0000000000000001');
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete']);

/**
 * One command as received: `name` is the body's first key; `body` has kind-1 sequences merged in as
 * arrays; `opCode` 2004 (OP_QUERY) or 2013 (OP_MSG); `moreToCome`: the client awaits no reply (w:0).
 */
export type ReceivedCommand = { name: string; db: string; body: Document; connectionId: number; at: number; opCode: number; moreToCome: boolean };

export type StepContext = {
  /**
   * Runs the default behaviour (the model, the retry memory) once and returns its reply; later calls
   * return the same reply. What the step adds (a writeConcernError) is not remembered for a retry.
   */
  apply: () => Document;
  db: string;
  connectionId: number;
};

/**
 * What the next command of a name gets instead of the default:
 * - a reply document, sent as is, the command NOT applied to the model;
 * - a function of the command, which may `ctx.apply()` and then return (or change) the reply;
 * - `{ $close: 'before' }` (socket destroyed, nothing applied) or `{ $close: 'after' }` (applied, then destroyed: no reply);
 * - `{ $hang: true }`: never answered (the connection stays open until the client gives up).
 */
export type ScriptStep =
  | Document
  | ((cmd: Document, ctx: StepContext) => Document | Promise<Document>)
  | { $close: 'before' | 'after' }
  | { $hang: true };

export type WireServer = {
  readonly host: string;
  readonly port: number;
  /** `mongodb://127.0.0.1:<port>/?replicaSet=rs0&serverSelectionTimeoutMS=2000` */
  readonly url: string;
  /** Merged over the default hello reply on every hello; a field set to undefined is left out (e.g. `setName`). */
  hello: Document;
  /** Merged over the default buildInfo reply (`{ ferretdbVersion: 'v1.24.2' }`, `{ version: '5.0.0' }`). */
  buildInfo: Document;
  /** Every command received, handshakes and monitor checks included, in arrival order. */
  readonly received: ReceivedCommand[];
  /** The received commands of one name (case-sensitive: the handshake's `ismaster` is not `hello`). */
  commands: (name: string) => ReceivedCommand[];
  /** Queues steps for the next commands named `name`, one step per command; an empty queue means default behaviour. */
  script: (name: string, ...steps: ScriptStep[]) => void;
  /** How many scripted steps for `name` have not been used yet. */
  pending: (name: string) => number;
  /** The model of `db.coll`, keyed by `idKey(_id)`; created if missing, so a test can seed or delete documents. */
  collection: (db: string, coll: string) => Map<string, Document>;
  /** Closes the listener and every connection; safe to call twice. */
  close: () => Promise<void>;
};

/** The model's key of an `_id`: canonical Extended JSON, so `'1'`, `1` and `ObjectId(…)` are three keys. */
export function idKey(id: unknown): string {
  return BSON.EJSON.stringify(id as Document, { relaxed: false });
}

/** A command the model cannot answer faithfully: replied as BadValue naming what is missing, never guessed. */
class Unsupported extends Error {}

/** A request that is not a well-formed message we speak: the connection is closed, as mongod does. */
class ProtocolError extends Error {}

type Request = { opCode: number; requestId: number; moreToCome: boolean; db: string; body: Document };
type Outcome = { reply: Document } | { close: true } | { hang: true };

export async function startWireServer(opts: { port?: number } = {}): Promise<WireServer> {
  const host = '127.0.0.1';
  const listener = createServer();
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (listener.address() as AddressInfo).port;
  const me = `${host}:${port}`;

  const sockets = new Set<Socket>();
  const scripts = new Map<string, ScriptStep[]>();
  const model = new Map<string, Map<string, Document>>();
  /**
   * Replies of applied retryable writes by `<lsid hex>:<txnNumber>`: a retry gets the first answer, not
   * a second write, as mongod's transaction table does (here per command, not per statement). Only what
   * the model applied is remembered: a scripted reply or a `$close: 'before'` leaves the retry to apply.
   */
  const remembered = new Map<string, Document>();
  let connections = 0;
  let requestIds = 0;
  let closing: Promise<void> | undefined;

  const server: WireServer = {
    host,
    port,
    url: `mongodb://${me}/?replicaSet=rs0&serverSelectionTimeoutMS=2000`,
    hello: {},
    buildInfo: {},
    received: [],
    commands: (name) => server.received.filter((c) => c.name === name),
    script(name, ...steps) {
      scripts.set(name, [...(scripts.get(name) ?? []), ...steps]);
    },
    pending: (name) => scripts.get(name)?.length ?? 0,
    collection: (db, coll) => collectionOf(`${db}.${coll}`),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      })),
  };

  function collectionOf(ns: string): Map<string, Document> {
    let coll = model.get(ns);
    if (!coll) model.set(ns, (coll = new Map()));
    return coll;
  }

  // ---- default behaviour, one handler per command name (a Map: no prototype keys such as `constructor`)

  const ok = () => ({ ok: 1 });
  const helloReply = (legacy: boolean) => (_cmd: Request, connectionId: number) => {
    const reply: Document = {
      helloOk: true,
      isWritablePrimary: true,
      setName: 'rs0',
      setVersion: 1,
      hosts: [me],
      primary: me,
      me,
      electionId: ELECTION_ID,
      maxBsonObjectSize: 16777216,
      maxMessageSizeBytes: 48000000,
      maxWriteBatchSize: 100000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId,
      minWireVersion: 0,
      maxWireVersion: 25,
      readOnly: false,
      // No topologyVersion: the driver then polls every heartbeatFrequencyMS instead of awaiting streamed replies.
      ...server.hello,
    };
    if (legacy) reply.ismaster = reply.isWritablePrimary;
    return withoutUndefined({ ...reply, ok: reply.ok ?? 1 });
  };
  const buildInfoReply = () => withoutUndefined({ version: '8.0.4', versionArray: [8, 0, 4, 0], ...server.buildInfo, ok: server.buildInfo.ok ?? 1 });
  const handlers = new Map<string, (cmd: Request, connectionId: number) => Document>([
    ['hello', helloReply(false)],
    ['isMaster', helloReply(true)],
    ['ismaster', helloReply(true)],
    ['buildInfo', buildInfoReply],
    ['buildinfo', buildInfoReply],
    ...['ping', 'endSessions', 'killCursors', 'abortTransaction', 'commitTransaction', 'createIndexes'].map((n) => [n, ok] as const),
    ['drop', ({ db, body }) => (model.delete(`${db}.${String(body.drop)}`), ok())],
    ['dropDatabase', ({ db }) => (dropDatabase(db), ok())],
    // Only `_id_` exists in the model: any other index is not found, as mongod answers (the worker's
    // start drops the audit TTL index when AUDIT_RETENTION_DAYS is 0 and takes 27 for "none there").
    ['dropIndexes', ({ body }) => ({ ok: 0, code: 27, codeName: 'IndexNotFound', errmsg: `index not found with name [${String(body.index)}]` })],
    ['listIndexes', ({ db, body }) => cursorReply(`${db}.${String(body.listIndexes)}`, 'firstBatch', [{ v: 2, key: { _id: 1 }, name: '_id_' }])],
    ['getMore', ({ db, body }) => cursorReply(`${db}.${String(body.collection)}`, 'nextBatch', [])],
    ['insert', ({ db, body }) => insert(collectionOf(`${db}.${String(body.insert)}`), `${db}.${String(body.insert)}`, body)],
    ['update', ({ db, body }) => update(collectionOf(`${db}.${String(body.update)}`), `${db}.${String(body.update)}`, body)],
    ['delete', ({ db, body }) => remove(collectionOf(`${db}.${String(body.delete)}`), body)],
    ['find', ({ db, body }) => find(collectionOf(`${db}.${String(body.find)}`), `${db}.${String(body.find)}`, body)],
  ]);

  function dropDatabase(db: string) {
    for (const ns of model.keys()) if (ns.startsWith(`${db}.`)) model.delete(ns);
  }

  /** The default reply: the handler's, behind the retry memory for writes. Model errors become error replies. */
  function applyDefault(cmd: Request, connectionId: number): Document {
    const name = commandName(cmd.body);
    const handler = handlers.get(name);
    if (!handler) return { ok: 0, code: 59, codeName: 'CommandNotFound', errmsg: `no such command: '${name}'` };
    const retryKey = WRITE_COMMANDS.has(name) ? retryKeyOf(cmd.body) : undefined;
    const earlier = retryKey === undefined ? undefined : remembered.get(retryKey);
    // Copies in and out: a step that edits the reply it got from ctx.apply() does not edit the memory.
    if (earlier) return clone(earlier);
    try {
      const reply = handler(cmd, connectionId);
      if (retryKey !== undefined) remembered.set(retryKey, clone(reply));
      return reply;
    } catch (err) {
      if (err instanceof Unsupported) return { ok: 0, code: 2, codeName: 'BadValue', errmsg: `wire-server: ${err.message}` };
      return { ok: 0, code: 1, codeName: 'InternalError', errmsg: `wire-server: ${(err as Error).message}` };
    }
  }

  /** The next scripted step for the command, or the default. */
  async function outcomeOf(cmd: Request, connectionId: number): Promise<Outcome> {
    let applied: Document | undefined;
    const apply = () => (applied ??= applyDefault(cmd, connectionId));
    const step = scripts.get(commandName(cmd.body))?.shift();
    if (step === undefined) return { reply: apply() };
    if (typeof step === 'function') {
      try {
        return { reply: await step(cmd.body, { apply, db: cmd.db, connectionId }) };
      } catch (err) {
        return { reply: { ok: 0, code: 1, codeName: 'InternalError', errmsg: `wire-server: scripted step threw: ${(err as Error).message}` } };
      }
    }
    if ('$close' in step) {
      if (step.$close === 'after') apply();
      return { close: true };
    }
    if ('$hang' in step) return { hang: true };
    return { reply: step };
  }

  // ---- connections: frames in, one command at a time per connection (as the driver sends them), replies out

  listener.on('connection', (socket) => {
    const connectionId = ++connections;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy()); // a client that resets: nothing to report, the close cleans up
    const nextFrames = frameReader();
    let turn: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of nextFrames(chunk)) {
          const request = parseRequest(frame);
          const { opCode, moreToCome, db, body } = request;
          server.received.push({ name: commandName(body), db, body, connectionId, at: Date.now(), opCode, moreToCome });
          turn = turn.then(() => serve(socket, request, connectionId));
        }
      } catch {
        socket.destroy(); // ProtocolError, a BSON error, OP_COMPRESSED: not a conversation we can continue
      }
    });
  });

  async function serve(socket: Socket, request: Request, connectionId: number): Promise<void> {
    if (socket.destroyed) return;
    const outcome = await outcomeOf(request, connectionId);
    if ('close' in outcome) return void socket.destroy();
    // Never settles: later requests on this connection wait behind it, like a server stuck on the first.
    if ('hang' in outcome) return new Promise<void>(() => {});
    if (request.moreToCome || socket.destroyed) return; // w:0: the client reads no reply
    const requestId = ++requestIds;
    socket.write(request.opCode === OP_QUERY ? opReply(requestId, request.requestId, outcome.reply) : opMsg(requestId, request.requestId, outcome.reply));
  }

  return server;
}

// ---- the wire format

/** Cuts a byte stream into whole messages: a frame may span chunks, a chunk may hold several frames. */
function frameReader(): (chunk: Buffer) => Buffer[] {
  let chunks: Buffer[] = [];
  let bytes = 0;
  return (chunk) => {
    chunks.push(chunk);
    bytes += chunk.length;
    const frames: Buffer[] = [];
    while (bytes >= 4) {
      if (chunks[0]!.length < 4) chunks = [Buffer.concat(chunks, bytes)];
      const length = chunks[0]!.readInt32LE(0);
      if (length < 16 || length > MAX_FRAME_BYTES) throw new ProtocolError(`a message of ${length} bytes`);
      if (bytes < length) break;
      // One concat per frame (not per chunk): a 48 MB frame in 64 KB chunks stays linear.
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
      frames.push(all.subarray(0, length));
      const rest = all.subarray(length);
      chunks = rest.length > 0 ? [rest] : [];
      bytes = rest.length;
    }
    return frames;
  };
}

function parseRequest(frame: Buffer): Request {
  const requestId = frame.readInt32LE(4);
  const opCode = frame.readInt32LE(12);
  if (opCode === OP_MSG) {
    const { body, moreToCome } = parseOpMsg(frame);
    return { opCode, requestId, moreToCome, db: typeof body.$db === 'string' ? body.$db : 'admin', body };
  }
  if (opCode === OP_QUERY) {
    // flags int32, fullCollectionName cstring ('admin.$cmd'), numberToSkip int32, numberToReturn int32, query.
    const nameEnd = frame.indexOf(0, 20);
    if (nameEnd < 0) throw new ProtocolError('OP_QUERY without a collection name');
    const fullName = frame.toString('utf8', 20, nameEnd);
    if (!fullName.endsWith('.$cmd')) throw new ProtocolError(`legacy OP_QUERY on ${fullName}`);
    const at = nameEnd + 1 + 8;
    const query = BSON.deserialize(frame.subarray(at, at + frame.readInt32LE(at)));
    const body = isPlainObject(query.$query) ? query.$query : query;
    return { opCode, requestId, moreToCome: false, db: fullName.slice(0, -'.$cmd'.length), body };
  }
  // OP_COMPRESSED (2012) only follows a compressor the handshake agreed on, and we offer none.
  throw new ProtocolError(`opCode ${opCode}`);
}

/** flagBits, then sections: kind 0 is the body, kind 1 a named document sequence (`documents`, `updates`, `deletes`). */
function parseOpMsg(frame: Buffer): { body: Document; moreToCome: boolean } {
  const flags = frame.readUInt32LE(16);
  const end = flags & CHECKSUM_PRESENT ? frame.length - 4 : frame.length; // the CRC-32C is not checked
  const sequences: [string, Document[]][] = [];
  let body: Document | undefined;
  let at = 20;
  while (at < end) {
    const kind = frame[at++];
    const size = frame.readInt32LE(at);
    if (size < 5 || at + size > end) throw new ProtocolError(`a section of ${size} bytes`);
    if (kind === 0) {
      if (body) throw new ProtocolError('two body sections');
      body = BSON.deserialize(frame.subarray(at, at + size));
    } else if (kind === 1) {
      const idEnd = frame.indexOf(0, at + 4);
      if (idEnd < 0 || idEnd >= at + size) throw new ProtocolError('a sequence without an identifier');
      const docs: Document[] = [];
      for (let p = idEnd + 1; p < at + size; p += frame.readInt32LE(p)) docs.push(BSON.deserialize(frame.subarray(p, p + frame.readInt32LE(p))));
      sequences.push([frame.toString('utf8', at + 4, idEnd), docs]);
    } else {
      throw new ProtocolError(`section kind ${kind}`);
    }
    at += size;
  }
  if (!body) throw new ProtocolError('OP_MSG without a body');
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  return { body, moreToCome: (flags & MORE_TO_COME) !== 0 };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** OP_MSG reply: flagBits 0, one kind-0 section. */
function opMsg(requestId: number, responseTo: number, doc: Document): Buffer {
  const bson = BSON.serialize(doc);
  const flagsAndKind = Buffer.alloc(5); // flagBits 0, section kind 0
  return Buffer.concat([header(16 + 5 + bson.length, requestId, responseTo, OP_MSG), flagsAndKind, bson]);
}

/** OP_REPLY to an OP_QUERY handshake: responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1, the document. */
function opReply(requestId: number, responseTo: number, doc: Document): Buffer {
  const bson = BSON.serialize(doc);
  const fields = Buffer.alloc(20);
  fields.writeInt32LE(1, 16);
  return Buffer.concat([header(16 + 20 + bson.length, requestId, responseTo, OP_REPLY), fields, bson]);
}

// ---- the model: replacement writes, _id reads, and the filters our write layer sends

function insert(coll: Map<string, Document>, ns: string, body: Document): Document {
  const ordered = body.ordered !== false;
  const writeErrors: Document[] = [];
  let n = 0;
  for (const [index, doc] of docsOf(body, 'documents').entries()) {
    const stored = clone('_id' in doc ? doc : { _id: new BSON.ObjectId(), ...doc });
    const key = idKey(stored._id);
    if (coll.has(key)) {
      writeErrors.push(duplicateKey(index, ns, stored._id));
      if (ordered) break;
      continue;
    }
    coll.set(key, stored);
    n++;
  }
  return { n, ...(writeErrors.length > 0 && { writeErrors }), ok: 1 };
}

function update(coll: Map<string, Document>, ns: string, body: Document): Document {
  const ordered = body.ordered !== false;
  const writeErrors: Document[] = [];
  const upserted: Document[] = [];
  let n = 0;
  let nModified = 0;
  for (const [index, stmt] of docsOf(body, 'updates').entries()) {
    const q: Document = stmt.q ?? {};
    const u: unknown = stmt.u;
    // Replacements, and the dead letters' `$set` / `$setOnInsert` of top-level fields; nothing else.
    const operators = isPlainObject(u) ? Object.keys(u).filter((k) => k.startsWith('$')) : [];
    const setStyle = operators.length > 0 && operators.every((k) => k === '$set' || k === '$setOnInsert');
    if (!isPlainObject(u) || (operators.length > 0 && !setStyle)) throw new Unsupported('update supports replacement documents and $set/$setOnInsert only (no other operators, no pipeline)');
    if (setStyle && operators.some((k) => Object.keys((u[k] ?? {}) as Document).some((f) => f.includes('.') || f === '_id'))) throw new Unsupported('$set/$setOnInsert of top-level fields other than _id only');
    if (stmt.multi === true) {
      writeErrors.push({ index, code: 9, codeName: 'FailedToParse', errmsg: 'multi update is not supported for replacement-style update' });
      if (ordered) break;
      continue;
    }
    const stored = select(coll, q, 1)[0];
    const { _id: newId, ...fields } = !setStyle
      ? u
      : stored
        ? { ...withoutId(stored), ...((u.$set ?? {}) as Document) }
        : { ...((u.$setOnInsert ?? {}) as Document), ...((u.$set ?? {}) as Document) };
    if (stored) {
      if (newId !== undefined && idKey(newId) !== idKey(stored._id)) {
        writeErrors.push({ index, code: 66, codeName: 'ImmutableField', errmsg: "Performing an update on the path '_id' would modify the immutable field '_id'" });
        if (ordered) break;
        continue;
      }
      const next = clone({ _id: stored._id, ...fields });
      n++;
      // MongoDB reports a replacement equal to the stored document, byte for byte, as matched but not modified.
      if (Buffer.compare(BSON.serialize(next), BSON.serialize(stored)) !== 0) {
        coll.set(idKey(stored._id), next);
        nModified++;
      }
    } else if (stmt.upsert === true) {
      // The upsert inserts with the filter's _id: when that _id is stored (the filter's other conditions
      // did not match it), MongoDB answers E11000, which is how a guarded upsert reports a newer version.
      const _id = isEquality(q._id) ? q._id : (newId ?? new BSON.ObjectId());
      if (coll.has(idKey(_id))) {
        writeErrors.push(duplicateKey(index, ns, _id));
        if (ordered) break;
        continue;
      }
      coll.set(idKey(_id), clone({ _id, ...fields }));
      upserted.push({ index, _id });
      n++;
    }
  }
  return { n, nModified, ...(upserted.length > 0 && { upserted }), ...(writeErrors.length > 0 && { writeErrors }), ok: 1 };
}

function withoutId(doc: Document): Document {
  const { _id: _ignored, ...rest } = doc;
  return rest;
}

function remove(coll: Map<string, Document>, body: Document): Document {
  let n = 0;
  for (const stmt of docsOf(body, 'deletes')) {
    // limit 1: the first match; limit 0: every match.
    for (const doc of select(coll, stmt.q ?? {}, stmt.limit === 1 ? 1 : Infinity)) {
      coll.delete(idKey(doc._id));
      n++;
    }
  }
  return { n, ok: 1 };
}

function find(coll: Map<string, Document>, ns: string, body: Document): Document {
  if (isPlainObject(body.sort) && Object.keys(body.sort).length > 0) throw new Unsupported('find supports no sort');
  const skip = typeof body.skip === 'number' ? body.skip : 0;
  const limit = typeof body.limit === 'number' ? Math.abs(body.limit) : 0;
  const docs = select(coll, body.filter ?? {}, Infinity).slice(skip, limit > 0 ? skip + limit : undefined);
  // Everything in the first batch, cursor id 0: the driver then sends no getMore.
  return cursorReply(ns, 'firstBatch', docs.map((d) => project(d, body.projection)));
}

function cursorReply(ns: string, batch: 'firstBatch' | 'nextBatch', docs: Document[]): Document {
  return { cursor: { id: BSON.Long.ZERO, ns, [batch]: docs }, ok: 1 };
}

function duplicateKey(index: number, ns: string, _id: unknown): Document {
  return {
    index,
    code: 11000,
    codeName: 'DuplicateKey',
    errmsg: `E11000 duplicate key error collection: ${ns} index: _id_ dup key: { _id: ${shellText(_id)} }`,
    keyPattern: { _id: 1 },
    keyValue: { _id },
  };
}

/** A value as mongod prints it in a dup-key message: `"p1"`, `1`, `ObjectId('…')`. */
function shellText(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof BSON.ObjectId) return `ObjectId('${value.toHexString()}')`;
  return BSON.EJSON.stringify(value as Document, { relaxed: true });
}

/** The documents a filter matches, in stored order; `{ _id: X }` and `{ _id: { $in } }` are looked up, not scanned. */
function select(coll: Map<string, Document>, filter: unknown, limit: number): Document[] {
  if (!isPlainObject(filter)) throw new Unsupported(`a filter that is not a document`);
  const matches = compileFilter(filter);
  const id = filter._id;
  const candidates = isEquality(id)
    ? [coll.get(idKey(id))]
    : isPlainObject(id) && Object.keys(id).length === 1 && Array.isArray(id.$in)
      ? [...new Set(id.$in.map(idKey))].map((k) => coll.get(k))
      : coll.values();
  const found: Document[] = [];
  for (const doc of candidates) {
    if (found.length >= limit) break;
    if (doc && matches(doc)) found.push(doc);
  }
  return found;
}

type Predicate = (value: unknown, present: boolean) => boolean;

/**
 * Top-level paths (dotted into subdocuments, not into arrays) each with an equality (`null` also
 * matches a missing field) or `$eq`, `$in`, `$gte` on strings, `$not` of those. Enough for
 * `{ _id, '_ingest.version': v | { $not: { $gte: v } } }`; anything else is Unsupported.
 */
function compileFilter(filter: Document): (doc: Document) => boolean {
  const tests = Object.entries(filter).map(([path, condition]) => {
    if (path.startsWith('$')) throw new Unsupported(`filter operator ${path}`);
    const predicate = compileCondition(condition);
    return (doc: Document) => {
      const { present, value } = valueAt(doc, path);
      return predicate(value, present);
    };
  });
  return (doc) => tests.every((t) => t(doc));
}

function compileCondition(condition: unknown): Predicate {
  if (isEquality(condition)) return equals(condition);
  const ops = Object.entries(condition as Document).map(([op, arg]): Predicate => {
    if (op === '$eq') return equals(arg);
    if (op === '$in' && Array.isArray(arg)) {
      const any = arg.map(equals);
      return (v, present) => any.some((p) => p(v, present));
    }
    if (op === '$gte' && typeof arg === 'string') {
      // MongoDB orders strings by their UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF.
      const bound = Buffer.from(arg);
      return (v) => typeof v === 'string' && Buffer.compare(Buffer.from(v), bound) >= 0;
    }
    if (op === '$not' && isPlainObject(arg) && !isEquality(arg)) {
      const inner = compileCondition(arg);
      return (v, present) => !inner(v, present);
    }
    throw new Unsupported(`filter condition ${op} ${shellText(arg)}`);
  });
  return (v, present) => ops.every((p) => p(v, present));
}

function equals(expected: unknown): Predicate {
  if (expected === null) return (v, present) => !present || v === null || v === undefined;
  const key = idKey(expected);
  return (v, present) => present && v !== undefined && idKey(v) === key;
}

/** An equality condition: a value that is not an operator document (`{ $in: … }`). */
function isEquality(condition: unknown): boolean {
  if (condition === undefined) return false;
  return !isPlainObject(condition) || !Object.keys(condition).some((k) => k.startsWith('$'));
}

function valueAt(doc: Document, path: string): { present: boolean; value: unknown } {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (!isPlainObject(value) || !Object.hasOwn(value, part)) return { present: false, value: undefined };
    value = value[part];
  }
  return { present: true, value };
}

/** Inclusion (`{ '_ingest.version': 1 }`, `_id` kept unless `_id: 0`) or exclusion (`{ a: 0 }`) of dotted paths. */
function project(doc: Document, projection: unknown): Document {
  if (!isPlainObject(projection) || Object.keys(projection).length === 0) return doc;
  for (const v of Object.values(projection)) if (typeof v !== 'number' && typeof v !== 'boolean') throw new Unsupported('projection operators');
  const fields = Object.entries(projection).filter(([k]) => k !== '_id');
  const keepId = projection._id === undefined || Boolean(projection._id);
  const inclusion = fields.length > 0 ? fields.some(([, v]) => Boolean(v)) : keepId;
  if (inclusion) {
    const out: Document = keepId && '_id' in doc ? { _id: doc._id } : {};
    for (const [path] of fields) {
      const { present, value } = valueAt(doc, path);
      if (present) setAt(out, path, value);
    }
    return out;
  }
  const out = clone(doc);
  for (const [path] of keepId ? fields : [...fields, ['_id', 0]]) deleteAt(out, String(path));
  return out;
}

function setAt(doc: Document, path: string, value: unknown) {
  const parts = path.split('.');
  let at = doc;
  for (const part of parts.slice(0, -1)) at = isPlainObject(at[part]) ? at[part] : (at[part] = {});
  at[parts.at(-1)!] = value;
}

function deleteAt(doc: Document, path: string) {
  const parts = path.split('.');
  let at: unknown = doc;
  for (const part of parts.slice(0, -1)) at = isPlainObject(at) ? at[part] : undefined;
  if (isPlainObject(at)) delete at[parts.at(-1)!];
}

// ---- small helpers

function commandName(body: Document): string {
  return Object.keys(body)[0] ?? '';
}

/**
 * `<lsid.id hex>:<txnNumber>` of a retryable write, or undefined for any other write. Inside a
 * transaction (`autocommit: false`) every statement carries the same txnNumber: not a retry, no key.
 */
function retryKeyOf(body: Document): string | undefined {
  const id: unknown = isPlainObject(body.lsid) ? body.lsid.id : undefined;
  if (!(id instanceof BSON.Binary) || body.txnNumber === undefined || body.txnNumber === null || body.autocommit !== undefined) return undefined;
  return `${id.toString('hex')}:${String(body.txnNumber)}`;
}

function docsOf(body: Document, field: string): Document[] {
  const docs: unknown = body[field];
  if (!Array.isArray(docs) || !docs.every(isPlainObject)) throw new Unsupported(`${commandName(body)} without a ${field} array`);
  return docs;
}

function isPlainObject(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** A deep copy through BSON: the model never shares objects with `received` or with a test's arguments. */
function clone(doc: Document): Document {
  return BSON.deserialize(BSON.serialize(doc));
}

function withoutUndefined(doc: Document): Document {
  return Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== undefined));
}
