import type { Collection } from 'mongodb';
import type { AuditEntry, AuditRecord } from '../shared/mongo.ts';

/** The audit trail: one document per job attempt (AuditRecord), stored before the job completes. */
export function createAuditLog(collection: Collection<AuditRecord>) {
  return {
    record: async (record: AuditRecord): Promise<void> => {
      if (record.entries.length > 0) await collection.insertOne({ ...record });
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
