import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection } from 'mongodb';
import type { PatientDocument } from '../../shared/mongo.ts';
import { writeConcernFailed } from '../job-errors.ts';

// What one unordered bulk did to each of its ops, read from the driver's answer or error (7.9):
// applied (and how), refused by the server (its code), or unknown (the request itself failed).

export type OpAnswer = { kind: 'applied'; outcome: 'inserted' | 'updated' } | { kind: 'refused'; code: number } | { kind: 'unknown'; error: unknown };

export type BulkAnswer = {
  answers: OpAnswer[];
  /** Applied on the primary, but the write concern was not confirmed (the error says so). */
  notDurable: boolean;
};

type Op = AnyBulkWriteOperation<PatientDocument>;

export async function sendUnordered(patients: Collection<PatientDocument>, ops: Op[]): Promise<BulkAnswer> {
  try {
    return readAnswer(ops, await patients.bulkWrite(ops, { ordered: false }));
  } catch (err) {
    return readError(ops, err);
  }
}

export function readAnswer(ops: Op[], result: BulkWriteResult): BulkAnswer {
  return { answers: ops.map((op) => applied(op, result)), notDurable: false };
}

export function readError(ops: Op[], err: unknown): BulkAnswer {
  const result = err instanceof MongoBulkWriteError && typeof err.result?.getWriteErrors === 'function' ? err.result : undefined;
  const notDurable = writeConcernFailed(err);
  const writeErrors = result?.getWriteErrors() ?? [];
  if (!result || (writeErrors.length === 0 && !notDurable)) {
    // A lost connection, a timeout, a whole-command refusal: nothing is known op by op.
    return { answers: ops.map(() => ({ kind: 'unknown', error: err })), notDurable: false };
  }
  const refused = new Map(writeErrors.map((e) => [e.index, Number(e.code)]));
  const answers = ops.map((op, i): OpAnswer => (refused.has(i) ? { kind: 'refused', code: refused.get(i)! } : applied(op, result)));
  return { answers, notDurable };
}

function applied(op: Op, result: BulkWriteResult): OpAnswer {
  if ('insertOne' in op) return { kind: 'applied', outcome: 'inserted' };
  // By _id, not index: FerretDB misnumbers upserted indexes (one op per patient, so _ids are unique).
  const id = 'replaceOne' in op ? (op.replaceOne.filter as { _id?: unknown })._id : undefined;
  const upserted = Object.values(result.upsertedIds ?? {}).some((u) => u === id);
  return { kind: 'applied', outcome: upserted ? 'inserted' : 'updated' };
}
