import type { PatientDocument } from '../../shared/mongo.ts';
import type { WriteOutcome } from '../../shared/queue.ts';
import { JobError } from '../job-errors.ts';
import { compareVersions } from '../../shared/version-order.ts';
import type { Stored } from './write-strategy.ts';

// A batch seen per patient: of several versions of one patient only the newest (the candidate) is
// written; the others are decided by what happened to it.

/** `doc._id` is patientKey(center_id, id): a group is one patient of one center. */
export type WriteItem = { doc: PatientDocument };
/** `tentative`: applied, but its write concern was not confirmed: what the write did, if a retry finds it durable. */
export type WriteResult = { ok: true; outcome: WriteOutcome } | { ok: false; error: JobError; tentative?: 'inserted' | 'updated' };

export type Key = PatientDocument['_id'];
type Entry = { index: number; item: WriteItem };
export type Group = { key: Key; entries: Entry[]; candidate: Entry; result?: WriteResult; stored?: Stored };

/** The candidate's result, and the other versions of its patient in the batch by it. */
export function settleGroup(g: Group, results: (WriteResult | undefined)[]): void {
  const winner = g.result ?? { ok: false, error: new JobError('WORKER_ERROR', 'write not decided', false) };
  results[g.candidate.index] = winner;
  const applied = winner.ok && (winner.outcome === 'inserted' || winner.outcome === 'updated');
  const storedVersion = applied ? g.candidate.item.doc._ingest.version : g.stored?.version;
  for (const { index, item } of g.entries) {
    if (index === g.candidate.index) continue;
    const v = item.doc._ingest.version;
    if ((applied || winner.ok || g.stored) && storedVersion !== undefined && compareVersions(v, storedVersion) <= 0) results[index] = { ok: true, outcome: v === storedVersion ? 'unchanged' : 'stale' };
    else results[index] = { ok: false, error: new JobError('WRITE_DEFERRED', 'a newer version in the same batch was not written; will retry', false) };
  }
}

export function groupByPatient(items: WriteItem[]): Map<Key, Group> {
  const groups = new Map<Key, Group>();
  items.forEach((item, index) => {
    const entry = { index, item };
    const g = groups.get(item.doc._id);
    if (!g) groups.set(item.doc._id, { key: item.doc._id, entries: [entry], candidate: entry });
    else {
      g.entries.push(entry);
      if (compareVersions(item.doc._ingest.version, g.candidate.item.doc._ingest.version) > 0) g.candidate = entry;
    }
  });
  return groups;
}

export function failAll(keys: Key[], groups: Map<Key, Group>, results: (WriteResult | undefined)[], error: JobError): void {
  for (const k of keys) for (const { index } of groups.get(k)!.entries) results[index] = { ok: false, error };
}
