import type { Collection, Db } from 'mongodb';
import { mapConcurrent } from '../../shared/map-concurrent.ts';
import type { PatientDocument } from '../../shared/mongo.ts';
import type { Lease, LockKey, WriteLock } from './write-lock.ts';
import { checkServer, type WriteConcern } from './server-check.ts';

// The one server-specific part of the write path, chosen once at start from buildInfo.
//
// MongoDB runs the guarded replace (filter: this _id, an older or no stored version) as one atomic
// operation, and reports per-op errors of an unordered bulk exactly: no lock, one bulk. FerretDB v1
// runs it as read, compare, write: writers of one patient take turns through the Redis lock, each
// replace is sent alone (FerretDB stops a bulk at its first error and reports it at index 0), and
// the stored versions of refused ones are read by `_id` equality, which the embedded server's GIN
// index serves (scripts/sql/ferretdb-lookup-indexes.sql), where `$in` scans the whole collection.

export type Stored = { version: string };
type Key = PatientDocument['_id'];

export type WriteStrategy = {
  readonly name: 'mongodb' | 'ferretdb';
  /** Per-op errors of an unordered bulk can be trusted; if not, each guarded replace is sent alone. */
  readonly exactBulkErrors: boolean;
  /** How long a write waits for patients locked elsewhere before it is answered PATIENT_BUSY. */
  readonly lockWaitMs: number;
  acquire: (keys: Key[]) => Promise<Lease>;
  read: (patients: Collection<PatientDocument>, keys: Key[]) => Promise<Map<Key, Stored>>;
};

const PROJECTION = { '_ingest.version': 1 } as const;
const READ_PARALLEL = 16;

/**
 * A refused guarded replace is settled (stale, unchanged) from this read: with `w: majority` it reads
 * only majority-committed versions, so a version a rollback can still take away (a write that timed
 * out waiting for the majority, a worker that died before its answer) is never called stored.
 */
export function mongoStrategy(w: WriteConcern): WriteStrategy {
  const readConcern = { level: w === 'majority' ? 'majority' : 'local' } as const;
  return {
    name: 'mongodb',
    exactBulkErrors: true,
    lockWaitMs: 0,
    acquire: async (keys) => ({ held: new Set<LockKey>(keys), release: async () => {} }),
    read: async (patients, keys) => toStored(await patients.find({ _id: { $in: keys } }, { projection: PROJECTION, readConcern }).toArray()),
  };
}

export function ferretStrategy(lock: WriteLock, lockWaitMs: number): WriteStrategy {
  return {
    name: 'ferretdb',
    exactBulkErrors: false,
    lockWaitMs,
    acquire: (keys) => lock.acquire(keys),
    async read(patients, keys) {
      const found = await mapConcurrent(keys, READ_PARALLEL, (_id) => patients.findOne({ _id }, { projection: PROJECTION }));
      return toStored(found.filter((d): d is PatientDocument => d !== null));
    },
  };
}

/** FerretDB when it says so, MongoDB when it is one this path is made for; else refused (server-check.ts). */
export async function chooseStrategy(db: Db, w: WriteConcern, ferret: () => WriteStrategy): Promise<WriteStrategy> {
  return (await checkServer(db, w)) === 'ferretdb' ? ferret() : mongoStrategy(w);
}

function toStored(docs: PatientDocument[]): Map<Key, Stored> {
  // A document written before this service (no _ingest, or a version that is not a string) is older than any.
  return new Map(docs.map((d) => [d._id, { version: typeof d._ingest?.version === 'string' ? d._ingest.version : '' }]));
}
