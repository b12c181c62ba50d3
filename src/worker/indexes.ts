import { MongoServerError } from 'mongodb';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';

// The indexes the operational queries need, created idempotently at every worker start:
// open dead letters by time (`dead-letters list`, the replay), a patient's audit trail by time, a
// patient id across centers (`_id` is "<center_id>:<id>"; an admin's look-up by `id` alone), and the
// optional audit retention (a TTL index, AUDIT_RETENTION_DAYS; 0 = keep everything).

const RETENTION = 'audit_retention';
const NOT_IMPLEMENTED = 238; // FerretDB v1 has no TTL indexes
const NO_SUCH_INDEX = [26, 27]; // no collection yet, no such index

export async function ensureIndexes(store: Store, config: Config, logger: Logger): Promise<void> {
  await store.deadLetters.createIndex({ replayedAt: 1, failedAt: 1 }, { name: 'open_by_time' });
  await store.audit.createIndex({ 'entries.patientId': 1, at: 1 }, { name: 'patient_by_time' });
  await store.patients.createIndex({ id: 1 }, { name: 'id_across_centers' });
  const seconds = config.AUDIT_RETENTION_DAYS * 86_400;
  try {
    if (seconds === 0) await store.audit.dropIndex(RETENTION).catch((err: unknown) => ignore(err, NO_SUCH_INDEX));
    else await retention(store, seconds);
  } catch (err) {
    if (!(err instanceof MongoServerError && err.code === NOT_IMPLEMENTED)) throw err;
    logger.warn({ code: 'AUDIT_RETENTION_UNSUPPORTED' }, 'this server has no TTL indexes: AUDIT_RETENTION_DAYS is not applied');
  }
}

async function retention(store: Store, seconds: number): Promise<void> {
  const existing = (await store.audit.indexes()).find((i) => i.name === RETENTION);
  if (!existing) await store.audit.createIndex({ at: 1 }, { name: RETENTION, expireAfterSeconds: seconds });
  else if (existing.expireAfterSeconds !== seconds) {
    await store.db.command({ collMod: store.audit.collectionName, index: { name: RETENTION, expireAfterSeconds: seconds } });
  }
}

function ignore(err: unknown, codes: number[]): void {
  if (!(err instanceof MongoServerError && typeof err.code === 'number' && codes.includes(err.code))) throw err;
}
