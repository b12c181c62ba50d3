import { MongoServerError } from 'mongodb';
import type { Config } from '../../shared/config/config.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Store } from '../../shared/mongo.ts';

// The indexes the operational queries need, created idempotently at every worker start:
// open dead letters by time (`dead-letters list`, the replay), a patient's audit trail by time, a
// patient id across centers (`_id` is "<center_id>:<id>"; an admin's look-up by `id` alone), and the
// optional audit retention (a TTL index, AUDIT_RETENTION_DAYS; 0 = keep everything).

const RETENTION = 'audit_retention';
const NOT_IMPLEMENTED = 238; // FerretDB v1 has no TTL indexes
const NO_SUCH_INDEX = [26, 27]; // no collection yet, no such index

const CONFLICT = [85, 86]; // an index on these keys exists under another name or with other options

export async function ensureIndexes(store: Store, config: Config, logger: Logger): Promise<void> {
  // One an operator made by hand on the same keys serves as well: keep it rather than never start.
  const keep = (what: string) => (err: unknown) => {
    ignore(err, CONFLICT);
    logger.warn({ code: 'INDEX_EXISTS_OTHERWISE', index: what }, 'an index on these keys exists with another name or options; kept as it is');
  };
  await store.deadLetters.createIndex({ replayedAt: 1, failedAt: 1 }, { name: 'open_by_time' }).catch(keep('dead_letters.open_by_time'));
  await store.audit.createIndex({ 'entries.patientId': 1, at: 1 }, { name: 'patient_by_time' }).catch(keep('audit.patient_by_time'));
  await store.patients.createIndex({ id: 1 }, { name: 'id_across_centers' }).catch(keep('patients.id_across_centers'));
  const seconds = config.AUDIT_RETENTION_DAYS * 86_400;
  try {
    if (seconds === 0) await store.audit.dropIndex(RETENTION).catch((err: unknown) => ignore(err, NO_SUCH_INDEX));
    else await retention(store, seconds);
  } catch (err) {
    if (!(err instanceof MongoServerError && err.code === NOT_IMPLEMENTED)) throw err;
    logger.warn({ code: 'AUDIT_RETENTION_UNSUPPORTED' }, 'AUDIT_RETENTION_DAYS is not applied: no TTL indexes on this server, or audit.at is indexed otherwise');
  }
}

async function retention(store: Store, seconds: number): Promise<void> {
  const indexes = await store.audit.indexes().catch((err: unknown) => (ignore(err, NO_SUCH_INDEX), [])); // no collection yet
  const existing = indexes.find((i) => i.name === RETENTION);
  if (!existing) await store.audit.createIndex({ at: 1 }, { name: RETENTION, expireAfterSeconds: seconds }).catch((err: unknown) => ignoreConflict(err));
  else if (existing.expireAfterSeconds !== seconds) {
    await store.db.command({ collMod: store.audit.collectionName, index: { name: RETENTION, expireAfterSeconds: seconds } });
  }
}

// An index on {at: 1} without a TTL already exists: retention would need it replaced; say so, do not stop.
function ignoreConflict(err: unknown): void {
  ignore(err, CONFLICT);
  throw new MongoServerError({ ok: 0, code: NOT_IMPLEMENTED, errmsg: 'audit.at is indexed otherwise' });
}

function ignore(err: unknown, codes: number[]): void {
  if (!(err instanceof MongoServerError && typeof err.code === 'number' && codes.includes(err.code))) throw err;
}
