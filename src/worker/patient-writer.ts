import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type WriteError } from 'mongodb';
import type { PatientDocument } from '../shared/mongo.ts';
import type { WriteOutcome } from '../shared/queue.ts';

// Group commit: writes that arrive together (one per concurrently running job) go to MongoDB in
// one unordered bulkWrite, and each caller still gets its own outcome or error.
//
// Newest wins atomically: each write is a replace-with-upsert whose filter only matches a stored
// document with an OLDER version. If the stored one is newer (or the same), the filter misses,
// the upsert tries to insert the same _id and MongoDB answers duplicate key (11000): nothing was
// written, and one read of the stored version tells "stale" from "unchanged". A duplicate key on
// a brand-new id can also be two workers inserting at once; that case is retried once, at once.

const DUPLICATE_KEY = 11000;

type Pending = { doc: PatientDocument; resolve: (o: WriteOutcome) => void; reject: (e: unknown) => void };

export type PatientWriter = {
  write: (doc: PatientDocument) => Promise<WriteOutcome>;
  /** Writes whatever is waiting now; resolves when those writes have settled. */
  flush: () => Promise<void>;
};

export type WriterOptions = {
  patients: Collection<PatientDocument>;
  batchMax: number;
  batchWaitMs: number;
  onBatch?: (size: number) => void;
};

export function createPatientWriter(options: WriterOptions): PatientWriter {
  let pending: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();

  const flush = async () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length > 0) {
      const run = writeBatch(options, batch, true).finally(() => inFlight.delete(run));
      inFlight.add(run);
    }
    await Promise.all(inFlight);
  };

  const write = (doc: PatientDocument) =>
    new Promise<WriteOutcome>((resolve, reject) => {
      pending.push({ doc, resolve, reject });
      if (pending.length >= options.batchMax) void flush();
      else timer ??= setTimeout(() => void flush(), options.batchWaitMs);
    });

  return { write, flush };
}

async function writeBatch(options: WriterOptions, batch: Pending[], mayRetry: boolean): Promise<void> {
  options.onBatch?.(batch.length);
  const ops: AnyBulkWriteOperation<PatientDocument>[] = batch.map(({ doc }) => ({
    replaceOne: {
      filter: { _id: doc._id, '_ingest.version': { $lt: doc._ingest.version } },
      replacement: doc,
      upsert: true,
    },
  }));
  let upserted: Record<number, unknown>;
  let errors: WriteError[] = [];
  try {
    upserted = (await options.patients.bulkWrite(ops, { ordered: false })).upsertedIds;
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError) || err.writeConcernError || !err.result) {
      for (const p of batch) p.reject(err);
      return;
    }
    upserted = err.result.upsertedIds;
    errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  }
  const errorAt = new Map(errors.map((e) => [e.index, e]));
  const conflicts: Pending[] = [];
  batch.forEach((p, i) => {
    const error = errorAt.get(i);
    if (!error) p.resolve(upserted[i] !== undefined ? 'inserted' : 'updated');
    else if (error.code === DUPLICATE_KEY) conflicts.push(p);
    else p.reject(error);
  });
  if (conflicts.length > 0) await settleConflicts(options, conflicts, mayRetry);
}

async function settleConflicts(options: WriterOptions, conflicts: Pending[], mayRetry: boolean): Promise<void> {
  let stored: Map<number, string | undefined>;
  try {
    const ids = [...new Set(conflicts.map((p) => p.doc._id))];
    const docs = await options.patients.find({ _id: { $in: ids } }, { projection: { '_ingest.version': 1 } }).toArray();
    stored = new Map(docs.map((d) => [d._id, d._ingest?.version]));
  } catch (err) {
    for (const p of conflicts) p.reject(err);
    return;
  }
  const retry: Pending[] = [];
  for (const p of conflicts) {
    const version = stored.get(p.doc._id);
    if (version !== undefined && version > p.doc._ingest.version) p.resolve('stale');
    else if (version === p.doc._ingest.version) p.resolve('unchanged');
    else if (mayRetry) retry.push(p); // lost an insert race to an older version: try again now
    else p.reject(new Error('concurrent write to the same patient; will retry'));
  }
  if (retry.length > 0) await writeBatch(options, retry, false);
}
