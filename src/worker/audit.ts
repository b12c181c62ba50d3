import type { Collection } from 'mongodb';
import type { AuditEntry } from '../shared/mongo.ts';

/**
 * The audit trail, appended in small groups (one insertMany per flush) like the patient writer.
 * `record` resolves once its entry is stored, so a job completes only with its entry written.
 */
export function createAuditLog(collection: Collection<AuditEntry>, flushMs = 5, max = 500) {
  let pending: { entry: AuditEntry; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    collection.insertMany(batch.map((p) => ({ ...p.entry })), { ordered: false }).then(
      () => batch.forEach((p) => p.resolve()),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  };
  return {
    record: (entry: AuditEntry) =>
      new Promise<void>((resolve, reject) => {
        pending.push({ entry, resolve, reject });
        if (pending.length >= max) flush();
        else timer ??= setTimeout(flush, flushMs);
      }),
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
