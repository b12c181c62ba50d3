import type { Collection } from 'mongodb';

// The audit trail: one append-only entry per write decision (who, which center, which patient,
// which job, what happened, when). Ids only: no patient values.

export type AuditAction = 'inserted' | 'updated' | 'unchanged' | 'stale' | 'rejected';

export type AuditEntry = {
  at: Date;
  keyId: string | null;
  centerId: number | null;
  patientId: number | null;
  jobId: string;
  attempt: number;
  action: AuditAction;
  /** For `rejected`: the error code, never its details. */
  code?: string;
};

/**
 * Appends entries in small groups (one insertMany per flush), like the patient writer. `record`
 * resolves once its entry is stored, so a job completes only with its audit entry written.
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
