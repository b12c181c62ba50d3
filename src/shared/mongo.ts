import { MongoClient, type Collection, type Db, type WriteConcernSettings } from 'mongodb';
import type { Config } from './config/config.ts';
import type { Patient } from './patient/patient-fields.ts';

export const COLLECTIONS = { patients: 'patients', deadLetters: 'dead_letters', audit: 'audit' } as const;

/** Ingest bookkeeping, kept apart from the patient's own fields. */
export type IngestMeta = {
  /** Sortable `modify_time|receivedAt|jobSeq`: newest wins by plain string comparison. */
  version: string;
  jobId: string;
  receivedAt: Date;
  appliedAt: Date;
  attempt: number;
};

/** `_id` = patientKey(center_id, id), "<center_id>:<id>" (src/shared/patient/patient-key.ts); `id` and `center_id` stay fields. */
export type PatientDocument = Patient & { _id: string; _ingest: IngestMeta };

export type DeadLetter = {
  _id: string; // `${queue}:${jobId}`
  queue: string;
  jobId: string;
  patientId: number | null;
  /** The record's own center: with patientId, the record's identity. Absent on letters older than the (center_id, id) keys. */
  centerId?: number | null;
  /** The record as received, kept so it can be replayed once the cause is fixed. */
  data: unknown;
  /** Instead of `data` (then null) when the server refuses the record's keys ($-prefixed, dotted). */
  dataJson?: string;
  errorCode: string;
  errorMessage: string;
  attempts: number;
  receivedAt: Date | null;
  failedAt: Date;
  /** Absent (or null) until replayed. FerretDB drops null values set on insert, so none are written. */
  replayedAt?: Date | null;
  replayJobId?: string | null;
  /** When the job first failed for good (failedAt is the latest time). */
  firstFailedAt?: Date;
  /** Who noticed: the job's own processor, or the sweep over BullMQ's failed set. */
  recordedBy?: 'processor' | 'failed-event' | 'sweep';
};

/** One append-only entry per write decision: ids and the outcome, never patient values. */
export type AuditEntry = {
  keyId: string | null;
  centerId: number | null;
  patientId: number | null;
  /** The record's reference, `<jobId>-<index>`. */
  jobId: string;
  action: 'inserted' | 'updated' | 'unchanged' | 'stale' | 'rejected';
  /** For `rejected`: the error code, never its details. */
  code?: string;
};

/**
 * One append-only document per job attempt holding every write decision it made (one insert per
 * job, not per record: the audit must not double the database's work). Ids and outcomes only.
 * A patient's trail: `find({ 'entries.patientId': id })`, indexed with `at`.
 */
export type AuditRecord = { _id?: string; at: Date; jobId: string; attempt: number; entries: AuditEntry[] };

export type Store = {
  client: MongoClient;
  db: Db;
  patients: Collection<PatientDocument>;
  deadLetters: Collection<DeadLetter>;
  audit: Collection<AuditRecord>;
  close: () => Promise<void>;
};

export function writeConcern(config: Config): WriteConcernSettings {
  // wtimeoutMS: without it a write whose majority cannot be reached waits for the socket timeout.
  return { w: config.MONGO_WRITE_CONCERN, journal: config.MONGO_JOURNAL, wtimeoutMS: config.MONGO_WTIMEOUT_MS };
}

/** Not connected yet: the API connects on first use; the worker connects explicitly, retrying (create-worker.ts). */
export function createStore(config: Config, dbName = config.MONGO_DB): Store {
  const client = new MongoClient(config.MONGO_URL, {
    serverSelectionTimeoutMS: config.MONGO_TIMEOUT_MS,
    connectTimeoutMS: config.MONGO_TIMEOUT_MS,
    // A server that accepts but never answers must not hold a write (and its patient lock) forever:
    // an operation silent for this long fails and is retried. Kept well below the write-lock TTL and
    // above MONGO_WTIMEOUT_MS (config keeps that below half the TTL), so the server answers first.
    socketTimeoutMS: Math.max(config.MONGO_TIMEOUT_MS, Math.floor((config.WORKER_WRITE_LOCK_MS * 2) / 3)),
    maxPoolSize: config.MONGO_POOL_SIZE,
    writeConcern: writeConcern(config),
  });
  const db = client.db(dbName);
  let closed: Promise<void> | undefined;
  return {
    client,
    db,
    patients: db.collection<PatientDocument>(COLLECTIONS.patients),
    deadLetters: db.collection<DeadLetter>(COLLECTIONS.deadLetters),
    audit: db.collection<AuditRecord>(COLLECTIONS.audit),
    close: () => (closed ??= client.close()),
  };
}
