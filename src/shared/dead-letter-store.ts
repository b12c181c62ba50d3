import type { DeadLetter, Store } from './mongo.ts';
import { partitionOf } from './partitions.ts';
import { recordsOf } from './queue.ts';

// Listing and replaying dead letters: shared by the worker's CLI (src/worker/dead-letters/dead-letter-command.ts)
// and the admin API (src/api/routes/dead-letters.ts), which must not import each other.

export type ListOptions = { includeReplayed: boolean; limit: number; offset?: number };

export async function listDeadLetters(store: Pick<Store, 'deadLetters'>, options: ListOptions): Promise<DeadLetter[]> {
  const filter = options.includeReplayed ? {} : { replayedAt: null }; // null matches absent too
  // _id breaks ties, so pages neither repeat nor skip letters failed in the same millisecond.
  return store.deadLetters.find(filter).sort({ failedAt: 1, _id: 1 }).skip(options.offset ?? 0).limit(options.limit).toArray();
}

export async function countDeadLetters(store: Pick<Store, 'deadLetters'>, includeReplayed: boolean): Promise<number> {
  return store.deadLetters.countDocuments(includeReplayed ? {} : { replayedAt: null });
}

/** What an operator needs to decide: ids, codes, field paths and rules, times; never the record's values. */
export function deadLetterSummary(l: DeadLetter) {
  return {
    id: l._id, queue: l.queue, jobId: l.jobId, centerId: l.centerId ?? null, patientId: l.patientId, errorCode: l.errorCode, errorMessage: l.errorMessage,
    attempts: l.attempts, failedAt: l.failedAt, replayedAt: l.replayedAt ?? null, replayJobId: l.replayJobId ?? null,
  };
}

/**
 * The partition a replay goes to: a letter of this deployment's queue (any partition, or the one
 * queue from before partitions) goes to its patient's partition NOW, as QUEUE_PARTITIONS may have
 * changed since; undefined for a letter of another deployment's queue.
 */
export function replayPartition(queueNames: readonly string[], legacyName: string, letter: Pick<DeadLetter, 'queue'>, data: unknown): number | undefined {
  if (letter.queue !== legacyName && !queueNames.includes(letter.queue)) return undefined;
  const first = recordsOf(data)[0] as { patient?: { center_id?: unknown; id?: unknown } } | undefined;
  return partitionOf(first?.patient ?? {}, queueNames.length);
}

/**
 * Replay = a new job holding the letter's record on the same queue; the letter remembers its new
 * reference. With `submittedBy`, the record is the replaying operator's (their write audit and
 * status); its tenant restriction stays, so a replay never writes more than the first submission could.
 */
export async function replayDeadLetter(
  store: Pick<Store, 'deadLetters'>,
  letter: DeadLetter,
  enqueue: (queue: string, data: unknown) => Promise<string>,
  submittedBy?: string,
): Promise<string> {
  const record: unknown = letter.dataJson === undefined ? letter.data : JSON.parse(letter.dataJson);
  // A letter of the one-record-per-job era holds that job's data: recordsOf reads both shapes.
  const records = recordsOf(record).map((r) => (submittedBy && typeof r === 'object' && r !== null ? { ...r, submittedBy } : r));
  const jobId = await enqueue(letter.queue, { records });
  await store.deadLetters.updateOne({ _id: letter._id }, { $set: { replayedAt: new Date(), replayJobId: jobId } });
  return jobId;
}
