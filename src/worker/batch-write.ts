import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import type { PatientDocument } from '../shared/mongo.ts';
import { tenantAllows, type Tenant, type WriteOutcome } from '../shared/queue.ts';
import { byServerCode, JobError } from './job-errors.ts';

// Writes one batch of patient versions, newest wins, while the writer holds every patient's lock.
//
// 0. Insert first (insertNew): patients not stored yet are inserted in one insertMany, no read.
// 1. For the others, one read of the stored versions. A version already stored (a re-delivered job) is settled
//    "unchanged", an older one "stale", without a write. Of several versions of one patient in the
//    batch only the newest is written; the others are "stale" once it is applied.
// 2. One bulkWrite for the rest. Against MongoDB each op is a replace-with-upsert whose filter only
//    matches an OLDER stored version: newest wins in one atomic operation, whatever else happens.
//    FerretDB v1 cannot do that: it runs such an update as read, compare, write-by-_id (so the
//    per-patient lock is what keeps it right there), it looks a document up by key only for a
//    string or ObjectId _id (any other filter scans the whole collection, for every op), and an
//    upsert that inserts costs ~20x an insert. So against FerretDB new patients are inserted and
//    known ones replaced by `{_id}`, after the read under the lock.
// 3. If that bulkWrite reports an error, or fewer ops applied than sent, every op is sent again
//    alone: FerretDB answers a failed multi-op write with one error at index 0, whichever op
//    failed, and no counts. Re-sending is safe: an applied version is then found stored.

export type Pending = {
  doc: PatientDocument;
  /** What the submitting key may write: checked against the STORED record, under the lock. */
  tenant?: Tenant;
  resolve: (o: WriteOutcome) => void;
  reject: (e: unknown) => void;
  since: number;
  retried: boolean;
};

const DUPLICATE_KEY = 11000;

/** MongoDB runs the guarded replace as one atomic operation; FerretDB (it says so in buildInfo) does not. */
export async function serverGuardsAtomically(db: Db): Promise<boolean> {
  return !('ferretdbVersion' in (await db.admin().command({ buildInfo: 1 })));
}

export async function writeBatch(patients: Collection<PatientDocument>, guard: boolean, batch: Pending[]): Promise<void> {
  const rest = await insertNew(patients, batch);
  if (rest.length > 0) await writeExisting(patients, guard, rest);
}

/**
 * Step 0, insert first: the newest version of each patient in the batch goes in with one unordered
 * insertMany. A patient not stored yet is stored right here, atomically (the _id is unique), at
 * insert speed and with no read; a duplicate key means one is stored, and those patients (with their
 * older versions from this batch) go the guarded way below. Answers what is left to write.
 */
async function insertNew(patients: Collection<PatientDocument>, batch: Pending[]): Promise<Pending[]> {
  const newest = new Map<number, Pending>();
  for (const p of batch) {
    const current = newest.get(p.doc._id);
    if (!current || current.doc._ingest.version < p.doc._ingest.version) newest.set(p.doc._id, p);
  }
  const candidates = [...newest.values()];
  let failedAt: Set<number>;
  try {
    await patients.insertMany(candidates.map((p) => p.doc), { ordered: false });
    failedAt = new Set();
  } catch (err) {
    const errors = err instanceof MongoBulkWriteError && !err.writeConcernError ? [err.writeErrors].flat() : [];
    // Anything but per-document errors (a lost connection, say) fails them all: retried later,
    // when a version applied meanwhile reads as stored.
    if (errors.length === 0) {
      for (const p of batch) p.reject(err);
      return [];
    }
    failedAt = new Set(errors.map((e) => e.index));
  }
  const inserted = new Set(candidates.filter((_, i) => !failedAt.has(i)).map((p) => p.doc._id));
  const rest: Pending[] = [];
  for (const p of batch) {
    if (!inserted.has(p.doc._id)) rest.push(p);
    else if (p === newest.get(p.doc._id)) p.resolve('inserted');
    else p.resolve(p.doc._ingest.version === newest.get(p.doc._id)!.doc._ingest.version ? 'unchanged' : 'stale');
  }
  return rest;
}

async function writeExisting(patients: Collection<PatientDocument>, guard: boolean, batch: Pending[]): Promise<void> {
  let stored: Map<number, string>;
  let owners: Map<number, Owner>;
  try {
    [stored, owners] = await storedVersionsAndOwners(patients, batch);
  } catch (err) {
    for (const p of batch) p.reject(err);
    return;
  }
  const newest = new Map<number, Pending>();
  const older: Pending[] = [];
  for (const p of batch) {
    const owner = owners.get(p.doc._id);
    if (owner && !tenantAllows(p.tenant, owner)) {
      p.reject(new JobError('FORBIDDEN_TENANT', 'the stored patient belongs to a center this API key may not write', true));
      continue;
    }
    if (settledByStored(p, stored.get(p.doc._id))) continue;
    const current = newest.get(p.doc._id);
    if (current && current.doc._ingest.version >= p.doc._ingest.version) older.push(p);
    else {
      if (current) older.push(current);
      newest.set(p.doc._id, p);
    }
  }
  const writes = [...newest.values()].sort((a, b) => Number(stored.has(a.doc._id)) - Number(stored.has(b.doc._id)));
  const applied = await writeAll(patients, guard, writes, stored);
  for (const p of older) {
    const winner = newest.get(p.doc._id)!;
    if (!applied.has(winner)) p.reject(new JobError('WRITE_DEFERRED', 'a newer version in the same batch was not written; will retry', false));
    else p.resolve(winner.doc._ingest.version === p.doc._ingest.version ? 'unchanged' : 'stale');
  }
}

/** Answers the writes that were applied (or found applied). */
async function writeAll(patients: Collection<PatientDocument>, guard: boolean, writes: Pending[], stored: Map<number, string>): Promise<Set<Pending>> {
  const applied = new Set<Pending>();
  if (writes.length === 0) return applied;
  try {
    const result = await patients.bulkWrite(writes.map((p) => operation(p, guard, stored.has(p.doc._id))), { ordered: true });
    if (result.insertedCount + result.matchedCount + result.upsertedCount === writes.length) {
      const upserted = new Set(Object.values(result.upsertedIds)); // by _id: FerretDB misnumbers the indexes
      for (const p of writes) p.resolve((guard ? upserted.has(p.doc._id) : !stored.has(p.doc._id)) ? 'inserted' : 'updated');
      return new Set(writes);
    }
  } catch (err) {
    // Only an answer with write errors is worth splitting; a lost connection (the driver wraps it
    // in a MongoBulkWriteError without write errors) or a write concern error fails them all.
    if (!(err instanceof MongoBulkWriteError) || err.writeConcernError || [err.writeErrors].flat().length === 0) {
      for (const p of writes) p.reject(err); // retried later; an applied version then reads as unchanged
      return applied;
    }
  }
  for (const p of writes) if (await writeOne(patients, guard, p, stored.has(p.doc._id))) applied.add(p);
  return applied;
}

/** One op alone, so that the answer is its own. Answers whether the version is (now) stored. */
async function writeOne(patients: Collection<PatientDocument>, guard: boolean, p: Pending, exists: boolean): Promise<boolean> {
  try {
    const result = await patients.bulkWrite([operation(p, guard, exists)], { ordered: true });
    if (result.insertedCount + result.upsertedCount === 1) return settle(p, 'inserted');
    if (result.matchedCount === 1) return settle(p, 'updated');
    // Matched nothing: the document vanished since it was read; look again below.
  } catch (err) {
    const code = err instanceof MongoBulkWriteError && !err.writeConcernError ? [err.writeErrors].flat()[0]?.code : undefined;
    if (code === undefined) return fail(p, err);
    if (code !== DUPLICATE_KEY) return fail(p, byServerCode(Number(code), `code ${code}`));
  }
  // Duplicate key: a version as new or newer is stored (maybe ours, from the failed bulkWrite), or
  // someone inserted meanwhile (possible only when a lock expired mid-write): look, then once more.
  let version: string | undefined;
  try {
    version = (await storedVersions(patients, [p])).get(p.doc._id);
  } catch (err) {
    return fail(p, err);
  }
  if (settledByStored(p, version)) return true;
  if (p.retried) return fail(p, new JobError('WRITE_CONFLICT', 'concurrent write to the same patient; will retry', false));
  p.retried = true;
  return writeOne(patients, guard, p, version !== undefined);
}

function operation({ doc }: Pending, guard: boolean, exists: boolean): AnyBulkWriteOperation<PatientDocument> {
  if (guard) return { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $lt: doc._ingest.version } }, replacement: doc, upsert: true } };
  return exists ? { replaceOne: { filter: { _id: doc._id }, replacement: doc } } : { insertOne: { document: doc } };
}

type Owner = { center_id: number | null; cluster_id: number | null };

async function storedVersionsAndOwners(patients: Collection<PatientDocument>, batch: Pending[]): Promise<[Map<number, string>, Map<number, Owner>]> {
  const ids = [...new Set(batch.map((p) => p.doc._id))];
  const docs = await patients.find({ _id: ids.length === 1 ? ids[0]! : { $in: ids } }, { projection: { '_ingest.version': 1, center_id: 1, cluster_id: 1 } }).toArray();
  return [new Map(docs.map((d) => [d._id, d._ingest?.version ?? ''])), new Map(docs.map((d) => [d._id, { center_id: d.center_id ?? null, cluster_id: d.cluster_id ?? null }]))];
}

async function storedVersions(patients: Collection<PatientDocument>, batch: Pending[]): Promise<Map<number, string>> {
  return (await storedVersionsAndOwners(patients, batch))[0];
}

/** Settles a write the stored version already decides: the same version (a re-delivery) or a newer one. */
function settledByStored(p: Pending, stored: string | undefined): boolean {
  if (stored === undefined || stored < p.doc._ingest.version) return false;
  p.resolve(stored === p.doc._ingest.version ? 'unchanged' : 'stale');
  return true;
}

const settle = (p: Pending, outcome: WriteOutcome) => (p.resolve(outcome), true);
const fail = (p: Pending, err: unknown) => (p.reject(err), false);
