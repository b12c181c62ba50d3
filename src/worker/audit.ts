import { createHash } from 'node:crypto';
import { MongoServerError, type Collection } from 'mongodb';
import type { AuditEntry, AuditRecord } from '../shared/mongo.ts';

const DUPLICATE_KEY = 11000;

/**
 * The audit trail: one document per job attempt (AuditRecord), stored before the job completes.
 * Its `_id` names the job and the records it speaks of, so writing it again (the insert timed out
 * waiting for its write concern, or its answer was lost, and the job came back) finds it there
 * instead of adding a second one. The job handler writes the records carried over from such an
 * attempt as they were, apart from the ones decided since.
 */
export function createAuditLog(collection: Collection<AuditRecord>) {
  return {
    record: async (record: AuditRecord, of: { queue: string; indexes: readonly number[] }): Promise<void> => {
      if (record.entries.length === 0) return;
      const _id = `${of.queue}:${record.jobId}:${createHash('sha256').update(of.indexes.join(',')).digest('hex').slice(0, 20)}`;
      try {
        await collection.insertOne({ ...record, _id });
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
      }
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;

/** Every entry of the trail matching `filter` (on the entries' fields), each with its record's time. */
export async function auditEntries(collection: Collection<AuditRecord>, filter: Partial<Record<keyof AuditEntry, unknown>> = {}): Promise<(AuditEntry & { at: Date; attempt: number })[]> {
  const query = Object.fromEntries(Object.entries(filter).map(([k, v]) => [`entries.${k}`, v]));
  const records = await collection.find(query).sort({ at: 1 }).toArray();
  return records.flatMap((r) =>
    r.entries.filter((e) => Object.entries(filter).every(([k, v]) => matches(e[k as keyof AuditEntry], v))).map((e) => ({ ...e, at: r.at, attempt: r.attempt })),
  );
}

function matches(value: unknown, condition: unknown): boolean {
  if (typeof condition === 'object' && condition !== null && Array.isArray((condition as { $in?: unknown[] }).$in)) return (condition as { $in: unknown[] }).$in.includes(value);
  return value === condition;
}
