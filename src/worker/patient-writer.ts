import type { PatientDocument } from '../shared/mongo.ts';
import type { Tenant, WriteOutcome } from '../shared/queue.ts';
import type { PatientStore, WriteItem } from './batch-write.ts';
import type { JobError } from './job-errors.ts';

// Group commit: writes that arrive together (one per concurrently running job) go to the store as
// one batch (batch-write.ts), and each caller still gets its own outcome or error. One batch at a
// time per process: what arrives while one is on the wire makes the next one bigger.

export type PatientWriter = {
  write: (doc: PatientDocument, tenant?: Tenant) => Promise<WriteOutcome>;
  /** Refuses writes not yet sent (shutdown); writes on the wire settle by themselves. */
  abort: (reason: JobError) => void;
};

export type WriterOptions = {
  /** The write path, ready once the server's kind is known (the worker takes jobs only then). */
  store: () => Promise<PatientStore>;
  batchMax: number;
  batchWaitMs: number;
  /** After each batch: how many writes, how long it took (ms), how many of them failed. */
  onBatch?: (size: number, ms: number, failed: number) => void;
};

type Pending = WriteItem & { resolve: (o: WriteOutcome) => void; reject: (e: unknown) => void };

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
    writing = true;
    void runBatch(batch).then(() => {
      writing = false;
      if (pending.length > 0) schedule(0);
    });
  };

  const runBatch = async (batch: Pending[]) => {
    const started = performance.now();
    let failed = batch.length;
    try {
      const results = await (await options.store()).write(batch.map(({ doc, tenant }) => ({ doc, tenant })));
      failed = results.filter((r) => !r.ok).length;
      batch.forEach((p, i) => {
        const r = results[i]!;
        if (r.ok) p.resolve(r.outcome);
        else p.reject(r.error);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
    options.onBatch?.(batch.length, Math.round(performance.now() - started), failed);
  };

  return {
    write: (doc, tenant) =>
      new Promise<WriteOutcome>((resolve, reject) => {
        pending.push({ doc, tenant, resolve, reject });
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
