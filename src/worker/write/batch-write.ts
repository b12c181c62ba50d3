import type { Collection } from 'mongodb';
import type { PatientDocument } from '../../shared/mongo.ts';
import { failAll, groupByPatient, settleGroup, type Group, type WriteItem, type WriteResult } from './batch-groups.ts';
import { sendUnordered, type BulkAnswer } from './bulk-answers.ts';
import { decide, isGuardRefusal, writeHeld } from './guarded-replace.ts';
import { classifyError, JobError } from '../job-errors.ts';
import { createResendGuess, type ResendGuess } from './resend-guess.ts';
import type { WriteStrategy } from './write-strategy.ts';

// The write path: one batch of patient versions in, one result per item out (index-aligned), newest
// wins. It settles nothing of its callers: each item's outcome or error is returned.
//
// 1. Of several versions of one patient in the batch only the newest (the candidate) is written;
//    the others end "stale"/"unchanged" once it is decided.
// 2. Insert first: candidates go in with one unordered insert. A patient not stored yet is stored
//    right there, atomically (the _id is unique), with no read. When the last batches were mostly
//    re-sent patients (resend-guess.ts), the insert is skipped: every candidate goes to step 3,
//    whose upsert stores a new patient too (the same outcomes, one round trip less per patient).
// 3. The known ones (duplicate key) get a guarded replace: it matches only if the stored version is
//    older or absent (`$not: {$gte}`: a missing, null or non-string version counts as older). The
//    `_id` is patientKey(center_id, id): it scopes the write to the record's own center, so no stored
//    record of another center is ever matched, compared or reported (no oracle, no squatting). A
//    refused one is then read to tell stale and unchanged apart. On FerretDB each is sent alone,
//    under the lock.
// 4. Durability (bulk-answers.ts): a write-concern error leaves every op of its bulk undecided,
//    retryable DB_NOT_DURABLE; what an applied op did travels as `tentative`, so the retry that finds
//    that version durable reports it (process-patient-job.ts). A refused op is read with the read
//    concern that matches the write concern (write-strategy.ts): "unchanged" and "stale" are said only
//    of versions that are as durable as a write would have made them.

export type { WriteItem, WriteResult } from './batch-groups.ts';
/** Candidates a batch inserts before it knows whether it is a re-send (a refused insert costs ~0.6 ms on FerretDB). */
const PROBE = 32;
export type PatientStore = { write: (items: WriteItem[]) => Promise<WriteResult[]> };

export function createPatientStore(deps: { patients: Collection<PatientDocument>; strategy: WriteStrategy }): PatientStore {
  const { patients, strategy } = deps;
  const guess = createResendGuess();
  return {
    async write(items) {
      const results: (WriteResult | undefined)[] = items.map(() => undefined);
      const groups = groupByPatient(items);
      // Insert first, without a lock: a patient not stored yet is stored by its insert, atomically
      // (the _id is unique), whatever runs elsewhere. Only the patients already stored (duplicate
      // key) need the guarded replace, and on FerretDB its lock: a drain of new patients takes none.
      // A re-send skips the insert (all known, as far as it can tell): the guarded upsert decides.
      const all = [...groups.values()];
      const resend = guess.resend();
      const known = resend ? all : await insertUnlessResent(patients, all, guess);
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
      if (resend) guess.saw(all.filter((g) => !(g.result?.ok && g.result.outcome === 'inserted')).length, all.length);
      for (const g of groups.values()) if (!failedAll(g, results)) settleGroup(g, results);
      return results.map((r) => r ?? { ok: false, error: new JobError('WORKER_ERROR', 'write not decided', false) });
    },
  };
}

/**
 * The first PROBE candidates are inserted; if most of them were stored already, the batch is a
 * re-send and the rest skip the insert (the guarded upsert stores a new one among them just as well);
 * otherwise the rest are inserted too. Answers the candidates the guarded replace must write.
 */
async function insertUnlessResent(patients: Collection<PatientDocument>, all: Group[], guess: ResendGuess): Promise<Group[]> {
  const probe = all.slice(0, PROBE);
  const known = await insertNew(patients, probe);
  guess.saw(known.length, probe.length);
  const rest = all.slice(PROBE);
  if (rest.length === 0) return known;
  return [...known, ...(known.length * 2 > probe.length ? rest : await insertNew(patients, rest))];
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
    if (isGuardRefusal(a)) known.push(g);
    else decide(g, a);
  });
  return known;
}

/** Whether failAll already answered this patient's records (lock trouble): settleGroup must not overwrite. */
function failedAll(g: Group, results: (WriteResult | undefined)[]): boolean {
  return g.result === undefined && results[g.candidate.index] !== undefined;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
