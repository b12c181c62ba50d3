import type { Collection } from 'mongodb';
import { mapConcurrent } from '../shared/map-concurrent.ts';
import type { PatientDocument } from '../shared/mongo.ts';
import { patientKey } from '../shared/patient/patient-key.ts';
import { mayAccess, type Client } from './auth.ts';
import { compareVersions } from '../shared/version-order.ts';

// Finds a patient for a key: under "<center>:<id>" for the key's centers only (the tenancy model),
// and, until `npm run migrate-keys` has moved the documents written before that key
// (docs/operations.md), under the plain numeric id, filtered by the key's centers as before.
// Another center's record is never returned.

export type Lookup =
  | { outcome: 'returned'; doc: PatientDocument }
  | { outcome: 'not-found' | 'denied' }
  | { outcome: 'ambiguous' };

/** Either key form: documents written before the (center_id, id) keys have the numeric id as `_id`. */
type StoredPatient = Omit<PatientDocument, '_id'> & { _id: number | string };
/** Lookups sent at once for a key of many centers. */
const PARALLEL = 16;

/**
 * `center`: the center asked for (`?center_id=`, or the center of the record just written); without
 * it, every center of the key. A key that reaches several centers which all use this id gets
 * `ambiguous`: it must say which center it means.
 */
export async function lookupPatient(patients: Collection<PatientDocument>, client: Client, id: number, center?: number | null): Promise<Lookup> {
  if (center !== undefined && !mayAccess(client, { center_id: center })) return { outcome: 'not-found' };
  const collection = patients as unknown as Collection<StoredPatient>;
  const unrestricted = client.centers === 'all' || client.scopes.has('admin');
  // Equalities only, each alone: `$in` and `$or` make the embedded server (FerretDB) scan the whole
  // collection (src/worker/README.md), while an equality on `_id` or `id` is served by an index on
  // both servers. The legacy numeric `_id` is always one of them.
  const keys: (string | number)[] = center !== undefined ? [patientKey(center, id)] : unrestricted ? [] : [...(client.centers as ReadonlySet<number>)].map((c) => patientKey(c, id));
  const byKey = await mapConcurrent([id, ...keys], PARALLEL, (_id) => collection.findOne({ _id }));
  const found = byKey.filter((doc) => doc !== null) as unknown as PatientDocument[];
  // Any center's: by the `id` field (indexed as id_across_centers), keyed documents only.
  if (unrestricted && center === undefined) found.push(...((await collection.find({ id, _id: { $type: 'string' } }).limit(10).toArray()) as unknown as PatientDocument[]));
  const visible = newestPerCenter(found.filter((doc) => mayAccess(client, doc) && (center === undefined || doc.center_id === center)));
  if (visible.length > 1) return { outcome: 'ambiguous' };
  if (visible.length === 1) return { outcome: 'returned', doc: visible[0]! };
  return { outcome: found.length > 0 ? 'denied' : 'not-found' };
}

/**
 * Until `npm run migrate-keys` has run, one center's patient can be under both keys (the legacy
 * numeric one and the new one a worker wrote since): they are one patient, the newest version wins.
 */
function newestPerCenter(docs: PatientDocument[]): PatientDocument[] {
  const version = (d: PatientDocument) => (typeof d._ingest?.version === 'string' ? d._ingest.version : '');
  const newest = new Map<number | null, PatientDocument>();
  for (const doc of docs) {
    const other = newest.get(doc.center_id ?? null);
    if (!other || compareVersions(version(doc), version(other)) > 0) newest.set(doc.center_id ?? null, doc);
  }
  return [...newest.values()];
}
