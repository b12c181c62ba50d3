import { randomBytes } from 'node:crypto';
import { parseRecordRef } from '../../shared/queue.ts';
import type { RedisClient } from '../../shared/redis.ts';

// One receipt per batch submission (issue 24): where its records went, so that one GET can say how
// the whole submission went from job-level state, without a status read per record. Written once,
// after Redis has the records and before the 202; a few hundred bytes (the record positions only when
// some items were refused at intake). A single POST needs none: its record reference is its receipt.

/** A run of the submission's accepted records inside one job: records `from`..`from+n-1` of job `job`. */
export type Slice = { p: number; job: string; from: number; n: number };

export type Receipt = {
  /** The API key that submitted it: the only one (with admins) that may read it. */
  by: string;
  total: number;
  slices: Slice[];
  /** The submission index of each accepted record, in slice order; absent when it is 0, 1, 2, … */
  at?: number[];
  /** Items refused at intake: [submission index, error code]. */
  refused: [number, string][];
};

export const receiptUrl = (id: string) => `/api/submissions/${id}`;

/** Runs of consecutive record references of one job, in the order of the references. */
export function slicesOf(refs: readonly string[]): Slice[] {
  const slices: Slice[] = [];
  for (const ref of refs) {
    const r = parseRecordRef(ref)!;
    const last = slices.at(-1);
    if (last && last.p === r.partition && last.job === r.jobId && last.from + last.n === r.index) last.n++;
    else slices.push({ p: r.partition, job: r.jobId, from: r.index, n: 1 });
  }
  return slices;
}

export type Receipts = {
  save: (receipt: Receipt) => Promise<string>;
  load: (id: string) => Promise<Receipt | undefined>;
  /** Keeps an undecided submission's receipt as long as its jobs may still be worked on. */
  extend: (id: string) => Promise<void>;
};

const ID = /^s-[A-Za-z0-9_-]{22}$/;

/** `ttlS`: the jobs' retention once decided (JOB_KEEP_COMPLETED_AGE_S), counted again at each read of an undecided one. */
export function createReceipts(redis: RedisClient, namespace: string, ttlS: number): Receipts {
  const key = (id: string) => `${namespace}:submission:${id}`;
  return {
    async save(receipt) {
      const id = `s-${randomBytes(16).toString('base64url')}`;
      await redis.set(key(id), JSON.stringify(receipt), 'EX', ttlS);
      return id;
    },
    async load(id) {
      if (!ID.test(id)) return undefined;
      const text = await redis.get(key(id));
      return text === null ? undefined : (JSON.parse(text) as Receipt);
    },
    async extend(id) {
      await redis.expire(key(id), ttlS);
    },
  };
}
