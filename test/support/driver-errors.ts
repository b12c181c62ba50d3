// Errors shaped exactly as mongodb driver 7.9 throws them from a bulk write, built by its own code:
// mergeBatchResults and the throw sites of executeCommands / handleWriteError in
// node_modules/mongodb/lib/bulk/common.js (re-enacted here line by line), so the mapping is tested
// against what a real MongoDB reply turns into, not against a guess.
import { createRequire } from 'node:module';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoWriteConcernError, type BulkWriteResult } from 'mongodb';

type Internals = {
  BulkWriteResult: new (bulkResult: object, ordered: boolean) => BulkWriteResult;
  mergeBatchResults: (batch: object, bulkResult: object, err: unknown, result: unknown) => void;
};
// Not public API: the same module instance the driver uses (so instanceof holds).
const internals = createRequire(import.meta.url)('mongodb/lib/bulk/common.js') as Internals;

const INSERT = 1;
const UPDATE = 2;

/** A server reply to one insert or update command of `count` ops. */
export type Reply = { ok: 1; n: number; nModified?: number; upserted?: { index: number; _id: unknown }[]; writeErrors?: { index: number; code: number; errmsg: string }[]; writeConcernError?: { code: number; codeName: string; errmsg: string } };

function bulk(kind: 'insert' | 'update', count: number) {
  const operations = Array.from({ length: count }, (_, i) => (kind === 'insert' ? { _id: i } : { q: {}, u: {}, upsert: true }));
  const batch = { batchType: kind === 'insert' ? INSERT : UPDATE, originalZeroIndex: 0, originalIndexes: operations.map((_, i) => i), operations };
  const bulkResult = { ok: 1, writeErrors: [] as { code: number; errmsg?: string }[], writeConcernErrors: [], insertedIds: [], nInserted: 0, nUpserted: 0, nMatched: 0, nModified: 0, nRemoved: 0, upserted: [] };
  return { batch, bulkResult };
}

/** What bulkWrite throws (or returns) for this reply; `ordered: false` as the worker sends. */
export function bulkOutcome(kind: 'insert' | 'update', count: number, reply: Reply): { result: BulkWriteResult } | { error: MongoBulkWriteError } {
  const { batch, bulkResult } = bulk(kind, count);
  if (reply.writeConcernError) {
    // server.js: throwIfWriteConcernError(res) -> MongoWriteConcernError; executeCommands merges and rethrows.
    const thrown = new MongoWriteConcernError(reply as never);
    internals.mergeBatchResults(batch, bulkResult, thrown, undefined);
    const result = new internals.BulkWriteResult(bulkResult, false);
    return { error: new MongoBulkWriteError({ message: thrown.result.writeConcernError.errmsg, code: thrown.result.writeConcernError.code } as never, result) };
  }
  internals.mergeBatchResults(batch, bulkResult, null, reply);
  const result = new internals.BulkWriteResult(bulkResult, false);
  if (bulkResult.writeErrors.length > 0) {
    const first = bulkResult.writeErrors[0]!;
    return { error: new MongoBulkWriteError({ message: first.errmsg ?? 'write operation failed', code: first.code, writeErrors: bulkResult.writeErrors } as never, result) };
  }
  return { result };
}

/** "a driver related error not a bulk op error" (executeCommands): wrapped as it is. */
export function wrapped(error: Error): MongoBulkWriteError {
  const { bulkResult } = bulk('update', 0);
  return new MongoBulkWriteError(error as never, new internals.BulkWriteResult(bulkResult, false));
}

export const networkError = () => wrapped(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'));
export const selectionError = () => wrapped(new MongoServerSelectionError('Server selection timed out after 5000 ms', { error: undefined } as never));
/** A whole-command refusal (ok: 0), e.g. code 13 Unauthorized: conn.command throws MongoServerError. */
export const commandError = (code: number, codeName: string) => wrapped(new MongoServerError({ ok: 0, code, codeName, errmsg: 'not authorized on hemo to execute command { insert: "patients" }' }));
export const WRITE_CONCERN_TIMEOUT = { code: 64, codeName: 'WriteConcernTimeout', errmsg: 'waiting for replication timed out' };
export const duplicateKey = (index: number) => ({ index, code: 11000, errmsg: 'E11000 duplicate key error collection: hemo.patients index: _id_ dup key: { _id: 7 }' });
