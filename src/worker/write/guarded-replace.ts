import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { PatientDocument } from '../../shared/mongo.ts';
import type { Group, Key } from './batch-groups.ts';
import { mapConcurrent } from '../../shared/map-concurrent.ts';
import { sendUnordered, type BulkAnswer, type OpAnswer } from './bulk-answers.ts';
import { byServerCode, classifyError, JobError, notDurable } from '../job-errors.ts';
import type { Stored, WriteStrategy } from './write-strategy.ts';
import { compareVersions } from '../../shared/version-order.ts';

// Step 3 of the write path (batch-write.ts): the guarded replace of patients already stored, and
// the read that tells a refused one stale or unchanged.

export const DUPLICATE_KEY = 11000;
const ROUNDS = 2;
/**
 * Guarded replaces one batch sends at once where each is sent alone (FerretDB): the default pool's 4
 * connections (WORKER_CONCURRENCY jobs keep a larger pool busy too). More only queue in the driver, and
 * an audit insert or a read then waits behind every job's queued replaces (150-330 ms measured with 32).
 */
export const SINGLE_PARALLEL = 4;

/** The guarded replace of the known patients this lease holds. */
export async function writeHeld(patients: Collection<PatientDocument>, strategy: WriteStrategy, groups: Group[]): Promise<void> {
  let toSend = groups;
  for (let round = 0; round < ROUNDS && toSend.length > 0; round++) {
    const answer = await send(patients, strategy, toSend);
    const refused: Group[] = [];
    toSend.forEach((g, i) => {
      const a = answer.answers[i]!;
      if (isGuardRefusal(a)) refused.push(g);
      else decide(g, a);
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
    const order = compareVersions(s.version, doc._ingest.version);
    if (order < 0) return true;
    if (order > 0) return (g.result = { ok: true, outcome: 'stale' }), false;
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
  // Once one op is lost to the connection (an unreachable or hung server), the rest are not sent:
  // each would wait for its own timeout in turn, and the batch (and its locks) would outlast them all.
  let lost: { error: unknown } | undefined;
  const ones = await mapConcurrent(groups, SINGLE_PARALLEL, async (g): Promise<BulkAnswer> => {
    if (lost) return { answers: [{ kind: 'unknown', error: lost.error }] };
    const one = await sendUnordered(patients, [guardedReplace(g)]);
    const a = one.answers[0]!;
    if (a.kind === 'unknown') lost ??= { error: a.error };
    return one;
  });
  return { answers: ones.map((one) => one.answers[0]!) };
}

/** A duplicate key on `_id`: the guard (or the insert) met a stored version. On another unique index it is a refusal for good. */
export function isGuardRefusal(a: OpAnswer): boolean {
  return a.kind === 'refused' && a.code === DUPLICATE_KEY && (a.index === undefined || a.index === '_id_');
}

/** An op's answer as the record's result; `tentative` keeps what a not-durable write did, for the retry that finds it. */
export function decide(g: Group, a: OpAnswer): void {
  if (a.kind === 'applied') g.result = { ok: true, outcome: a.outcome };
  else if (a.kind === 'notDurable') g.result = { ok: false, error: notDurable(a.code), ...(a.tentative ? { tentative: a.tentative } : {}) };
  else if (a.kind === 'refused' && a.code === DUPLICATE_KEY) g.result = { ok: false, error: new JobError('DB_REJECTED', 'database rejected the write (duplicate key on a unique index other than _id)', true) };
  else g.result = { ok: false, error: a.kind === 'refused' ? byServerCode(a.code, `code ${a.code}`) : classifyError(a.error) };
}

function guardedReplace({ candidate: { item } }: Group): AnyBulkWriteOperation<PatientDocument> {
  const { doc } = item;
  return { replaceOne: { filter: { _id: doc._id, '_ingest.version': { $not: { $gte: doc._ingest.version } } }, replacement: doc, upsert: true } };
}
