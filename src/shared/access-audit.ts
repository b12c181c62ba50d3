import type { Collection, Db } from 'mongodb';

// The access audit (HIPAA §164.312(b)): who read which patient, and which operator did what, with
// the outcome and the client's address. Ids and codes only, never patient values. Append-only:
// the code only ever inserts, and the database user of the API should have nothing but `insert`
// and `find` on this collection. Kept apart from the worker's write audit (`audit`).

export const ACCESS_AUDIT_COLLECTION = 'access_audit';

export type AccessAction =
  | 'patient.read' // GET /api/patients/{id}
  | 'patient.read-after-write' // the stored record returned by `Prefer: wait`
  | 'dead-letter.replay'; // an operator re-enqueued a dead letter

export type AccessEntry = {
  at: Date;
  action: AccessAction;
  /** The API key's id, or `operator:<name>` for command-line actions. */
  keyId: string;
  patientId: number | null;
  /**
   * returned: data went out; not-found: no such record for this key; denied: another tenant's record
   * stored the old way (answered as 404); ambiguous: several of the key's centers use the id (409).
   */
  outcome: 'returned' | 'not-found' | 'denied' | 'ambiguous' | 'replayed' | 'failed';
  /** The client's address (X-Forwarded-For only from API_TRUST_PROXY); null for command-line actions. */
  clientAddress: string | null;
  requestId?: string;
  jobId?: string;
  letterId?: string;
};

export type AccessAudit = { record: (entry: Omit<AccessEntry, 'at'>) => Promise<void> };

export function accessAuditCollection(db: Db): Collection<AccessEntry> {
  return db.collection<AccessEntry>(ACCESS_AUDIT_COLLECTION);
}

export function createAccessAudit(collection: Collection<AccessEntry>): AccessAudit {
  return {
    async record(entry) {
      await collection.insertOne({ at: new Date(), ...entry });
    },
  };
}
