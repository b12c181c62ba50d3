import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection } from 'mongodb';
import type { PatientDocument } from '../../shared/mongo.ts';
import { writeConcernCode, writeConcernFailed } from '../job-errors.ts';

// What one unordered bulk did to each of its ops, read from the driver's answer or error (7.9).
//
// The durability rule of the write path, in one place: an op counts as APPLIED only when the reply
// that carried it confirmed the write concern and every op of the bulk is accounted for.
// - A write-concern error makes every op of the bulk "not durable", whatever else the reply says
//   (an applied op keeps its outcome only as `tentative`; a refused one proves nothing either).
// - The driver sends a long bulk as several commands and stops at the first that throws: the ops it
//   never sent are in neither the counts nor the write errors. So unless inserted + upserted +
//   matched + refused adds up to the number of ops, no op that was not refused is known applied.

export type Applied = 'inserted' | 'updated';
export type OpAnswer =
  | { kind: 'applied'; outcome: Applied }
  | { kind: 'refused'; code: number; /** The unique index of an 11000 (`_id_` unless the server says otherwise). */ index?: string }
  | { kind: 'notDurable'; /** The write-concern error's code. */ code?: number; tentative?: Applied }
  | { kind: 'unknown'; error: unknown };

export type BulkAnswer = { answers: OpAnswer[] };

type Op = AnyBulkWriteOperation<PatientDocument>;

export async function sendUnordered(patients: Collection<PatientDocument>, ops: Op[]): Promise<BulkAnswer> {
  try {
    return readAnswer(ops, await patients.bulkWrite(ops, { ordered: false }));
  } catch (err) {
    return readError(ops, err);
  }
}

export function readAnswer(ops: Op[], result: BulkWriteResult): BulkAnswer {
  if (accounted(result, 0) < ops.length) return unknownAll(ops, new Error('bulk reply does not account for every op'));
  return { answers: ops.map((op) => applied(op, result)) };
}

export function readError(ops: Op[], err: unknown): BulkAnswer {
  const result = err instanceof MongoBulkWriteError && typeof err.result?.getWriteErrors === 'function' ? err.result : undefined;
  const writeErrors = result?.getWriteErrors() ?? [];
  if (!result || (writeErrors.length === 0 && !writeConcernFailed(err))) return unknownAll(ops, err); // nothing known op by op
  const refused = new Map(writeErrors.map((e) => [e.index, e]));
  const complete = accounted(result, writeErrors.length) >= ops.length;
  if (writeConcernFailed(err)) {
    const code = writeConcernCode(err);
    const tentative = (i: number, op: Op) => (complete && !refused.has(i) ? { tentative: applied(op, result).outcome } : {});
    return { answers: ops.map((op, i): OpAnswer => ({ kind: 'notDurable', ...(code === undefined ? {} : { code }), ...tentative(i, op) })) };
  }
  const answers = ops.map((op, i): OpAnswer => {
    const e = refused.get(i);
    if (e) return { kind: 'refused', code: Number(e.code), ...uniqueIndex(e.errmsg) };
    return complete ? applied(op, result) : { kind: 'unknown', error: err };
  });
  return { answers };
}

/** Ops the reply speaks of: inserted, upserted, matched (a guarded replace matches, upserts or is refused) and refused. */
function accounted(result: BulkWriteResult, refused: number): number {
  return result.insertedCount + result.upsertedCount + result.matchedCount + refused;
}

function unknownAll(ops: Op[], error: unknown): BulkAnswer {
  return { answers: ops.map(() => ({ kind: 'unknown', error })) };
}

function applied(op: Op, result: BulkWriteResult): { kind: 'applied'; outcome: Applied } {
  if ('insertOne' in op) return { kind: 'applied', outcome: 'inserted' };
  // By _id, not index: FerretDB misnumbers upserted indexes (one op per patient, so _ids are unique).
  const id = 'replaceOne' in op ? (op.replaceOne.filter as { _id?: unknown })._id : undefined;
  const upserted = Object.values(result.upsertedIds ?? {}).some((u) => u === id);
  return { kind: 'applied', outcome: upserted ? 'inserted' : 'updated' };
}

/**
 * The index an E11000 names ("… index: <name> dup key: …"); the bulk API keeps only the message, not
 * the reply's keyPattern. Only the name is taken: the rest of the message quotes the key's values.
 */
function uniqueIndex(errmsg: string | undefined): { index?: string } {
  const name = /\bindex: (\S+)/.exec(errmsg ?? '')?.[1];
  return name ? { index: name } : {};
}
