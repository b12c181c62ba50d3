import type { Collection } from 'mongodb';
import type { PatientDocument } from '../shared/mongo.ts';
import type { Tenant, WriteOutcome } from '../shared/queue.ts';
import { writeBatch, type Pending } from './batch-write.ts';
import { JobError } from './job-errors.ts';
import type { WriteLock } from './write-lock.ts';

// Group commit: writes that arrive together (one per concurrently running job) go to MongoDB as
// one batch (batch-write.ts), and each caller still gets its own outcome or error. One batch at a
// time per process: what arrives while one is on the wire makes the next one bigger.
//
// Before a batch is written the writer takes each of its patients' locks (write-lock.ts), so that
// writers of one patient, here or in other processes, take turns. Writes whose patient is locked
// elsewhere wait for a later batch, for at most lockWaitMs.

const LOCK_RETRY_MS = 10;

export type PatientWriter = {
  write: (doc: PatientDocument, tenant?: Tenant) => Promise<WriteOutcome>;
  /** Refuses writes not yet sent (shutdown); writes on the wire settle by themselves. */
  abort: (reason: JobError) => void;
};

export type WriterOptions = {
  patients: Collection<PatientDocument>;
  lock: WriteLock;
  batchMax: number;
  batchWaitMs: number;
  /** How long a write waits for a patient another batch is writing before failing (retryable). */
  lockWaitMs: number;
  /** Whether the server runs the newest-wins filter atomically (MongoDB) or not (FerretDB). */
  guardInFilter: () => Promise<boolean>;
  /** After each batch: how many writes, how long it took (ms). */
  onBatch?: (size: number, ms: number) => void;
};

export function createPatientWriter(options: WriterOptions): PatientWriter {
  let pending: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing = false; // one batch at a time: what arrives meanwhile makes the next batch bigger

  const schedule = (ms: number) => {
    timer ??= setTimeout(() => {
      timer = undefined;
      startBatch();
    }, ms);
  };

  const startBatch = () => {
    if (writing || pending.length === 0) return;
    const batch = pending.slice(0, options.batchMax);
    pending = pending.slice(options.batchMax);
    const ids = [...new Set(batch.map((p) => p.doc._id))];
    writing = true;
    void runBatch(batch, ids).then((refused) => {
      writing = false;
      if (pending.length > 0) schedule(refused ? LOCK_RETRY_MS + Math.random() * LOCK_RETRY_MS : 0);
    });
  };

  /** Answers whether some patients were locked elsewhere (so their writes wait a little). */
  const runBatch = async (batch: Pending[], ids: number[]): Promise<boolean> => {
    let held: Set<number>;
    try {
      held = await options.lock.acquire(ids);
    } catch {
      for (const p of batch) p.reject(new JobError('LOCK_UNAVAILABLE', 'patient write lock unavailable (Redis)', false));
      return false;
    }
    const now = Date.now();
    const go: Pending[] = [];
    for (const p of batch) {
      if (held.has(p.doc._id)) go.push(p);
      else if (now - p.since > options.lockWaitMs) p.reject(new JobError('PATIENT_BUSY', 'another worker kept this patient locked too long', false));
      else pending.push(p);
    }
    try {
      if (go.length > 0) {
        const started = performance.now();
        await writeBatch(options.patients, await options.guardInFilter(), go);
        options.onBatch?.(go.length, Math.round(performance.now() - started));
      }
    } catch (err) {
      for (const p of go) p.reject(err); // no-op for those already settled
    } finally {
      await options.lock.release([...held]).catch(() => {}); // else it expires
    }
    return held.size < ids.length;
  };

  return {
    write: (doc, tenant) =>
      new Promise<WriteOutcome>((resolve, reject) => {
        pending.push({ doc, tenant, resolve, reject, since: Date.now(), retried: false });
        if (pending.length >= options.batchMax) startBatch();
        else schedule(options.batchWaitMs);
      }),
    abort: (reason) => {
      clearTimeout(timer);
      timer = undefined;
      const dropped = pending;
      pending = [];
      for (const p of dropped) p.reject(reason);
    },
  };
}
