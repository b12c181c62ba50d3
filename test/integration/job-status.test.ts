import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { deadLetterId, recordDeadLetter } from '../../src/worker/dead-letters/dead-letters.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { post } from '../support/http.ts';
import { until } from '../support/records.ts';

// Every state a record's status URL can answer (`queued`, `active`, `stored`, `skipped-as-stale`,
// `failed`), the retention that ends it (404), and a dead letter replayed onto a newer stored version.

let h: Harness;
beforeAll(async () => {
  // Completed jobs kept: 2 by count (the age bound, an hour, is not reached here).
  h = await createHarness({ JOB_KEEP_COMPLETED: '2' });
});
afterAll(() => h.close());

const status = async (ref: string) => (await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${ref}` })).json();
const accepted = async (body: object, headers: Record<string, string> = {}) => {
  const res = await post(h.app, body, { headers });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res;
};

describe('a record\'s status, through every state', () => {
  it('when no worker has taken the record, then queued; while a worker runs its job, active; once written, stored', async () => {
    const { jobId: ref } = (await accepted({ ...SEED_SAMPLE, id: 1 })).json();
    expect(await status(ref)).toMatchObject({ state: 'queued', patientId: 1 });

    // A stand-in worker holds the job in its processor until told to let go, then hands it back.
    let release = () => {};
    const connection = createRedis(h.config.REDIS_URL, 'worker');
    const holder = new Worker(h.config.QUEUE_NAME, () => new Promise<never>((_, reject) => (release = () => reject(new Error('handed back by the test')))), { connection, prefix: h.config.QUEUE_PREFIX });
    try {
      await until('the record active', 10_000, async () => (await status(ref)).state === 'active', 50, () => status(ref));
    } finally {
      release();
      await holder.close();
      connection.disconnect();
    }
    // The stand-in's failure spent one attempt; the real worker retries the job and stores it.
    h.startWorker();
    try {
      await until('the record stored', 20_000, async () => (await status(ref)).state === 'stored', 100, () => status(ref));
      expect(await status(ref)).toMatchObject({ state: 'stored', outcome: 'inserted', patientId: 1, error: null });
    } finally {
      await h.stopWorker();
    }
  });

  it('when an older version arrives after a newer one is stored, then skipped-as-stale; a record the worker refuses, failed with its code', async () => {
    h.startWorker();
    try {
      await accepted({ ...SEED_SAMPLE, id: 2, modify_time: '2025-11-01T10:00:00+07:00' }, { prefer: 'wait=20' });
      const { jobId: older } = (await accepted({ ...SEED_SAMPLE, id: 2, modify_time: '2025-10-01T10:00:00+07:00' })).json();
      await h.settled(older);
      expect(await status(older)).toMatchObject({ state: 'skipped-as-stale', outcome: 'stale', patientId: 2 });

      const [poison] = await h.enqueueJob([{ patient: { ...SEED_SAMPLE, id: 3, isactive: 999 }, receivedAt: Date.now() }]);
      await h.settled(poison!);
      expect(await status(poison!)).toMatchObject({ state: 'failed', patientId: 3, error: expect.stringMatching(/^PATIENT_INVALID: /) });
    } finally {
      await h.stopWorker();
    }
  });

  it('when more jobs completed than JOB_KEEP_COMPLETED, then the oldest are removed and their status URL answers 404', async () => {
    h.startWorker();
    try {
      const refs: string[] = [];
      // One job each, settled in turn: the count bound applies as each completes.
      for (const id of [11, 12, 13]) {
        refs.push((await accepted({ ...SEED_SAMPLE, id })).json().jobId);
        await h.settled(refs.at(-1)!);
      }
      expect(await h.queue.getCompletedCount()).toBe(2);
      expect((await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${refs[0]}` })).statusCode).toBe(404);
      expect((await status(refs[2]!)).state).toBe('stored');
    } finally {
      await h.stopWorker();
    }
  });
});

describe('a dead letter replayed', () => {
  it('when a letter is replayed after a newer version of its patient was stored, then the replay ends skipped-as-stale and the newer version stays', async () => {
    h.startWorker();
    try {
      // A record that ran out of attempts (DB_UNAVAILABLE), as the worker records it, then a newer version stored.
      const old = { patient: { ...SEED_SAMPLE, id: 20, fullname: 'old', modify_time: '2025-10-01T03:00:00.000Z' }, receivedAt: Date.UTC(2025, 9, 1), submittedBy: 'dev' };
      await recordDeadLetter(h.store, h.config.QUEUE_NAME, { jobId: '9000', index: 0, record: old, attempts: 10 }, { code: 'DB_UNAVAILABLE', message: 'the database was unreachable' }, 'processor');
      expect((await accepted({ ...SEED_SAMPLE, id: 20, fullname: 'new', modify_time: '2025-11-01T10:00:00+07:00' }, { prefer: 'wait=20' })).statusCode).toBe(201);

      const replay = await post(h.app, '', { url: `/api/admin/dead-letters/${encodeURIComponent(deadLetterId(h.config.QUEUE_NAME, '9000-0'))}/replay`, contentType: null });
      expect(replay.statusCode, replay.body).toBe(202);
      await h.settled(replay.json().replayJobId);
      expect(await status(replay.json().replayJobId)).toMatchObject({ state: 'skipped-as-stale', outcome: 'stale', patientId: 20 });
      expect(await h.store.patients.findOne({ id: 20 })).toMatchObject({ fullname: 'new' });
    } finally {
      await h.stopWorker();
    }
  });
});
