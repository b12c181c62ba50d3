import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { PatientDocument } from '../shared/mongo.ts';
import { failAll, groupByPatient, settleGroup, type Group, type Key, type WriteItem, type WriteResult } from './batch-groups.ts';
import { sendUnordered, type BulkAnswer } from './bulk-answers.ts';
import { byServerCode, classifyError, JobError, notDurable } from './job-errors.ts';
import type { Stored, WriteStrategy } from './write-strategy.ts';

// The write path: one batch of patient versions in, one result per item out (index-aligned), newest
// wins. It settles nothing of its callers: each item's outcome or error is returned.
//
// 1. Of several versions of one patient in the batch only the newest (the candidate) is written;
//    the others end "stale"/"unchanged" once it is decided.
// 2. Insert first: candidates go in with one unordered insert. A patient not stored yet is stored
//    right there, atomically (the _id is unique), with no read.
// 3. The known ones (duplicate key) get a guarded replace: it matches only if the stored version is
//    older or absent (`$not: {$gte}`: a missing, null or non-string version counts as older). The
//    `_id` is patientKey(center_id, id): it scopes the write to the record's own center, so no stored
//    record of another center is ever matched, compared or reported (no oracle, no squatting). A
//    refused one is then read to tell stale and unchanged apart. On FerretDB the strategy reads
//    first, under the lock.
// 4. A write-concern failure means "applied, not yet durable": the applied ops keep their outcome and
//    are confirmed once more (a write waits for the write concern); unconfirmed, they fail retryable.

export type { WriteItem, WriteResult } from './batch-groups.ts';
export type PatientStore = { write: (items: WriteItem[]) => Promise<WriteResult[]> };

const DUPLICATE_KEY = 11000;
const ROUNDS = 2;
const SINGLE_PARALLEL = 16;

export function createPatientStore(deps: { patients: Collection<PatientDocument>; strategy: WriteStrategy }): PatientStore {
  const { patients, strategy } = deps;
  return {
    async write(items) {
      const results: (WriteResult | undefined)[] = items.map(() => undefined);
      const groups = groupByPatient(items);
      // Insert first, without a lock: a patient not stored yet is stored by its insert, atomically
      // (the _id is unique), whatever runs elsewhere. Only the patients already stored (duplicate
      // key) need the guarded replace, and on FerretDB its lock: a drain of new patients takes none.
      const known = await insertNew(patients, [...groups.values()]);
      let waiting = known.map((g) => g.key);
      const deadline = Date.now() + strategy.lockWaitMs;
      while (waiting.length > 0) {
        let lease;
        try {
          lease = await strategy.acquire(waiting);
        } catch {
          failAll(waiting, groups, results, new JobError('LOCK_UNAVAILABLE', 'patient write lock unavailable (Redis)', false));
          break;
        }
        const now = waiting.filter((k) => lease.held.has(k)).map((k) => groups.get(k)!);
        try {
          if (now.length > 0) await writeHeld(patients, strategy, now);
        } catch (err) {
          for (const g of now) g.result ??= { ok: false, error: classifyError(err) };
        } finally {
          await lease.release().catch(() => {}); // else it expires
        }
        waiting = waiting.filter((k) => !lease.held.has(k));
        if (waiting.length > 0 && Date.now() >= deadline) {
          failAll(waiting, groups, results, new JobError('PATIENT_BUSY', 'another worker kept this patient locked too long', false));
          break;
        }
        if (waiting.length > 0) await sleep(10 + Math.random() * 10);
      }
      for (const g of groups.values()) if (!failedAll(g, results)) settleGroup(g, results);
      return results.map((r) => r ?? { ok: false, error: new JobError('WORKER_ERROR', 'write not decided', false) });
    },
  };
}

/** Inserts every candidate; decides the inserted (and the refused for other reasons); answers the known ones. */
async function insertNew(patients: Collection<PatientDocument>, groups: Group[]): Promise<Group[]> {
  let inserted: BulkAnswer;
  try {
    inserted = await sendUnordered(patients, groups.map((g) => ({ insertOne: { document: g.candidate.item.doc } })));
  } catch (err) {
    for (const g of groups) g.result ??= { ok: false, error: classifyError(err) };
    return [];
  }
  const known: Group[] = [];
  groups.forEach((g, i) => {
    const a = inserted.answers[i]!;
    if (a.kind === 'refused' && a.code === DUPLICATE_KEY) known.push(g);
    else decide(g, a, inserted);
  });
  try {
    await confirm(patients, groups.filter((g) => g.notDurable && g.result?.ok));
  } catch (err) {
    for (const g of groups) if (g.notDurable && g.result?.ok) g.result = { ok: false, error: classifyError(err) };
  }
  return known;
}

/** The known patients this lease holds: the guarded replace, then what is still not durable is confirmed. */
async function writeHeld(patients: Collection<PatientDocument>, strategy: WriteStrategy, groups: Group[]): Promise<void> {
  await writeKnown(patients, strategy, groups);
  await confirm(patients, groups.filter((g) => g.notDurable && g.result?.ok));
}

async function writeKnown(patients: Collection<PatientDocument>, strategy: WriteStrategy, groups: Group[]): Promise<void> {
  let toSend = groups;
  if (strategy.readFirst) toSend = await readAndSettle(patients, strategy, groups);
  for (let round = 0; round < ROUNDS && toSend.length > 0; round++) {
    const answer = await send(patients, strategy, toSend);
    const refused: Group[] = [];
    toSend.forEach((g, i) => {
      const a = answer.answers[i]!;
      if (a.kind === 'refused' && a.code === DUPLICATE_KEY) refused.push(g);
      else decide(g, a, answer);
    });
    toSend = await readAndSettle(patients, strategy, refused);
  }
  for (const g of toSend) g.result ??= { ok: false, error: new JobError('WRITE_CONFLICT', 'concurrent write to the same patient; will retry', false) };
}

/** Reads the stored versions and settles what they decide; answers the groups still to write. */
async function readAndSettle(patients: Collection<PatientDocument>, strategy: WriteStrategy, groups: Group[]): Promise<Group[]> {
  if (groups.length === 0) return [];
  let stored: Map<Key, Stored>;
  try {
    stored = await strategy.read(patients, groups.map((g) => g.key));
  } catch (err) {
    for (const g of groups) g.result ??= { ok: false, error: classifyError(err) };
    return [];
  }
  return groups.filter((g) => {
    const s = stored.get(g.key);
    g.stored = s;
    if (!s) return true; // gone since the insert said it exists: the upsert inserts it
    const { doc } = g.candidate.item;
    if (s.version < doc._ingest.version) return true;
    if (s.version > doc._ingest.version) return (g.result = { ok: true, outcome: 'stale' }), false;
    g.result = { ok: true, outcome: 'unchanged' }; // our own version: a re-delivery
    return false;
  });
}

/**
 * The guarded replaces of a batch: one unordered bulk where the server reports per-op errors exactly
 * (MongoDB); else each op alone, some at once, so every answer is its own (FerretDB stops a bulk at
 * its first error, reports it at index 0, and a long update bulk there is slower than the ops alone).
 */
async function send(patients: Collection<PatientDocument>, strategy: WriteStrategy, groups: Group[]): Promise<BulkAnswer> {
  if (strategy.exactBulkErrors) return sendUnordered(patients, groups.map(guardedReplace));
  const answer: BulkAnswer = { answers: [], notDurable: false };
  for (let i = 0; i < groups.length; i += SINGLE_PARALLEL) {
    const ones = await Promise.all(groups.slice(i, i + SINGLE_PARALLEL).map((g) => sendUnordered(patients, [guardedReplace(g)])));
    for (const one of ones) {
      answer.answers.push(one.answers[0]!);
      answer.notDurable ||= one.notDurable;
    }
  }
  return answer;
}

/** Applied ops that failed only their write concern: one more write of the same version waits for it. */
async function confirm(patients: Collection<PatientDocument>, groups: Group[]): Promise<void> {
  if (groups.length === 0) return;
  const ops = groups.map(({ candidate: { item } }): AnyBulkWriteOperation<PatientDocument> => ({
    replaceOne: { filter: { _id: item.doc._id, '_ingest.version': item.doc._ingest.version }, replacement: item.doc },
  }));
  const answer = await sendUnordered(patients, ops);
  groups.forEach((g, i) => {
    if (answer.notDurable || answer.answers[i]!.kind !== 'applied') g.result = { ok: false, error: notDurable() };
  });
}

function decide(g: Group, a: BulkAnswer['answers'][number], bulk: BulkAnswer): void {
  if (a.kind === 'applied') {
    g.result = { ok: true, outcome: a.outcome };
    g.notDurable ||= bulk.notDurable;
  } else g.result = { ok: false, error: a.kind === 'refused' ? byServerCode(a.code, `code ${a.code}`) : classifyError(a.error) };
}

function guardedReplace({ candidate: { item } }: Group): AnyBulkWriteOperation<PatientDocument> {
  const { doc } = item;
  return { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $not: { $gte: doc._ingest.version } } }, replacement: doc, upsert: true } };
}

/** Whether failAll already answered this patient's records (lock trouble): settleGroup must not overwrite. */
function failedAll(g: Group, results: (WriteResult | undefined)[]): boolean {
  return g.result === undefined && results[g.candidate.index] !== undefined;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
