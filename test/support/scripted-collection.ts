// A stand-in for the patients collection in UNIT tests of the write path's error handling: each
// bulkWrite takes the next scripted answer (a driver-shaped result or error, test/support/driver-errors.ts)
// and is recorded; reads answer from a fixed map. Integration tests use the real servers instead.
import type { AnyBulkWriteOperation, BulkWriteResult, Collection } from 'mongodb';
import type { PatientDocument } from '../../src/shared/mongo.ts';

export type Answer = (ops: AnyBulkWriteOperation<PatientDocument>[]) => { result: BulkWriteResult } | { error: Error };

export function scriptedCollection(answers: Answer[], stored: Map<unknown, Partial<PatientDocument>> = new Map()) {
  const sent: AnyBulkWriteOperation<PatientDocument>[][] = [];
  const reads: unknown[][] = [];
  const collection = {
    async bulkWrite(ops: AnyBulkWriteOperation<PatientDocument>[]) {
      sent.push(ops);
      const next = answers.shift();
      if (!next) throw new Error(`unscripted bulkWrite #${sent.length}`);
      const outcome = next(ops);
      if ('error' in outcome) throw outcome.error;
      return outcome.result;
    },
    find(filter: { _id: { $in: unknown[] } }) {
      reads.push(filter._id.$in);
      return { toArray: async () => filter._id.$in.flatMap((id) => (stored.has(id) ? [{ _id: id, ...stored.get(id) }] : [])) };
    },
  };
  return { patients: collection as unknown as Collection<PatientDocument>, sent, reads };
}
