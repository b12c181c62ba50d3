// One-off migration to the (center_id, id) keys: documents written before them have the patient
// id itself, a number, as `_id`. Each is copied to `patientKey(center_id, id)` through the worker's
// own write path, so "newest wins" decides between it and whatever a new worker already wrote
// under the new key (same versions, same lock on FerretDB), and the legacy document is deleted only
// if it is still the version that was copied. Idempotent (a moved document is gone; a copy already
// there reads `unchanged`) and resumable (stopped anywhere, the next run finds what is left).
// Entry: migrate-keys-cli.ts (`npm run migrate-keys`); docs/operations.md, "Tenancy model".
import type { AnyBulkWriteOperation, Collection, Filter } from 'mongodb';
import { closeWithin } from '../shared/close.ts';
import { CLOSE_EACH_MS } from '../shared/connections.ts';
import type { Config } from '../shared/config/config.ts';
import { loadConfigOrExit } from '../shared/entry.ts';
import { createLogger } from '../shared/logger.ts';
import { createStore, type PatientDocument } from '../shared/mongo.ts';
import { patientKey } from '../shared/patient/patient-key.ts';
import { readyOrTimeout, redisFor } from '../shared/redis.ts';
import { createPatientStore, type PatientStore } from './write/batch-write.ts';
import { ensureIndexes } from './write/indexes.ts';
import { createWriteLock, withLocalTurns, writeLockPrefix } from './write/write-lock.ts';
import { chooseStrategy, ferretStrategy } from './write/write-strategy.ts';
import { ServerRefusedError } from './write/server-check.ts';

/** A document as stored before the keys: numeric `_id`, maybe no or partial `_ingest` (written before this service). */
type Legacy = Omit<PatientDocument, '_id' | '_ingest'> & { _id: number; _ingest?: Partial<Record<keyof PatientDocument['_ingest'], unknown>> };

export type MigrationReport = {
  /** Legacy documents seen. */
  found: number;
  /** Copied to the new key (or already copied by an earlier run), legacy deleted. */
  moved: number;
  /** A newer version was already under the new key: legacy deleted, nothing copied. */
  superseded: number;
  /** Changed by another writer between copy and delete: kept, run again. */
  changedMeanwhile: number;
  /** Not copied (database or lock trouble): kept, run again. By error code. */
  failed: Record<string, number>;
};

export async function migrateKeys(patients: Collection<PatientDocument>, writer: PatientStore, options: { batchSize: number; now?: () => Date }): Promise<MigrationReport> {
  const legacy = patients as unknown as Collection<Legacy>;
  const report: MigrationReport = { found: 0, moved: 0, superseded: 0, changedMeanwhile: 0, failed: {} };
  let after: number | undefined;
  for (;;) {
    // In _id order from the last one seen, so documents kept (failed, changed) are not read again in this run.
    const numeric = { $type: 'number' } as const; // int, long or double: "number" is MongoDB's alias for them
    const filter = { _id: after === undefined ? numeric : { ...numeric, $gt: after } } as unknown as Filter<Legacy>;
    const batch = await legacy.find(filter).sort({ _id: 1 }).limit(options.batchSize).toArray();
    if (batch.length === 0) return report;
    after = batch.at(-1)!._id;
    report.found += batch.length;
    const now = (options.now ?? (() => new Date()))();
    const results = await writer.write(batch.map((doc) => ({ doc: keyed(doc, now) })));
    const deletes: AnyBulkWriteOperation<Legacy>[] = [];
    results.forEach((r, i) => {
      if (!r.ok) return void (report.failed[r.error.code] = (report.failed[r.error.code] ?? 0) + 1);
      if (r.outcome === 'stale') report.superseded++;
      else report.moved++;
      // Only the version just compared: one an older worker wrote since then is moved by the next run.
      const doc = batch[i]!;
      deletes.push({ deleteOne: { filter: { _id: doc._id, '_ingest.version': (doc._ingest?.version ?? null) as never } } });
    });
    if (deletes.length === 0) continue;
    const { deletedCount } = await legacy.bulkWrite(deletes, { ordered: false });
    report.changedMeanwhile += deletes.length - deletedCount;
  }
}

/** The legacy document under its new key; a missing or non-text version is older than any (as the worker reads it). */
function keyed(doc: Legacy, now: Date): PatientDocument {
  const id = typeof doc.id === 'number' ? doc.id : doc._id;
  const version = typeof doc._ingest?.version === 'string' ? doc._ingest.version : '';
  const _ingest = { jobId: 'migrate-keys', receivedAt: now, appliedAt: now, attempt: 0, ...doc._ingest, version } as PatientDocument['_ingest'];
  return { ...doc, id, _id: patientKey(doc.center_id ?? null, id), _ingest };
}

const USAGE = 'usage: migrate-keys [--batch N]   (same environment as the worker)\n';

/** Exit code 0: nothing left under a numeric _id; 1: some kept (see the report), run again; 2: usage or configuration. */
export async function runMigrateKeys(argv: string[], env: Record<string, string | undefined>, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const at = argv.indexOf('--batch');
  const batchSize = at >= 0 ? Number(argv[at + 1]) : 500;
  if (argv.length !== (at >= 0 ? 2 : 0) || !Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    err(USAGE);
    return 2;
  }
  const config: Config = loadConfigOrExit('migrate-keys', env);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'migrate-keys' });
  const store = createStore(config);
  const redis = redisFor(config, 'producer');
  redis.on('error', () => {}); // only FerretDB needs it (the lock); trouble there fails the items, reported
  try {
    await readyOrTimeout(redis, 5000);
    const lock = withLocalTurns(createWriteLock(redis, writeLockPrefix(config), config.WORKER_WRITE_LOCK_MS));
    const strategy = await chooseStrategy(store.db, config.MONGO_WRITE_CONCERN, () => ferretStrategy(lock, config.WORKER_WRITE_LOCK_MS + 2000)).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    if (strategy instanceof ServerRefusedError) {
      err(`migrate-keys: ${strategy.variable} ${strategy.message}\n`);
      return 2; // as the worker: not a server to write to
    }
    if (strategy instanceof Error) throw strategy;
    await ensureIndexes(store, config, logger);
    const report = await migrateKeys(store.patients, createPatientStore({ patients: store.patients, strategy }), { batchSize });
    out(`${JSON.stringify(report)}\n`);
    return report.changedMeanwhile > 0 || Object.keys(report.failed).length > 0 ? 1 : 0;
  } finally {
    redis.disconnect();
    await closeWithin(CLOSE_EACH_MS, () => store.close());
  }
}
