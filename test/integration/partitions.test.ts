import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { partitionOf } from '../../src/shared/partitions.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { createWorker } from '../../src/worker/create-worker.ts';
import { captureLogger, createHarness, type Harness } from '../support/harness.ts';
import { refParts, until } from '../support/records.ts';

// Issue 11, on one Redis: QUEUE_PARTITIONS=4 makes four queues; a record goes to its patient's
// partition, its reference names it, and each partition is visible on its own.

const N = 4;
let h: Harness;
beforeAll(async () => {
  h = await createHarness({ QUEUE_PARTITIONS: String(N), API_BATCH_MAX: '1000', RATE_LIMIT_MAX: '100000' });
});
afterAll(() => h.close());

const post = (url: string, payload: unknown) => h.app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
const status = async (url: string) => (await h.app.inject({ method: 'GET', url })).json() as { state: string; outcome: string | null; patientId: number | null };
const version = (id: number, v: number) => ({ ...SEED_SAMPLE, id, modify_time: new Date(Date.UTC(2025, 0, 1) + v * 60_000).toISOString(), fullname: `patient ${id} version ${v}` });

describe('queue partitions on one Redis', () => {
  it('when a worker takes only partition 1 (WORKER_PARTITIONS), then only records of partition 1 are stored and the others wait in their queues', async () => {
    await h.stopWorker(); // in any order: no worker of all partitions may run beside the one under test
    const ids = Array.from({ length: 40 }, (_, i) => 5000 + i);
    const res = await post('/api/patients/batch', ids.map((id) => ({ ...SEED_SAMPLE, id })));
    expect(res.statusCode).toBe(202);
    const refs = (res.json().results as { jobId: string }[]).map((r) => r.jobId);
    const inOne = ids.filter((id) => partitionOf({ center_id: SEED_SAMPLE.center_id, id }, N) === 1);
    expect(inOne.length).toBeGreaterThan(0);
    const connection = createRedis(h.config.REDIS_URL, 'worker');
    const only = createWorker({ config: { ...h.config, WORKER_PARTITIONS: '1' }, connection, store: h.store, logger: captureLogger('worker-1').logger });
    try {
      await until(`the ${inOne.length} records of partition 1 stored`, 30_000, async () => (await h.store.patients.countDocuments({ id: { $in: inOne } })) === inOne.length);
      expect(only.partitions.map((p) => p.partition)).toEqual([1]);
      expect(await h.store.patients.countDocuments({ id: { $in: ids } })).toBe(inOne.length);
      const waiting = await Promise.all(h.queues.map((q) => q.getWaitingCount()));
      expect(waiting[1]).toBe(0);
      expect(waiting.filter((_, p) => p !== 1).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      refs.forEach((ref, i) => expect(refParts(ref).partition).toBe(partitionOf({ center_id: SEED_SAMPLE.center_id, id: ids[i]! }, N)));
    } finally {
      await only.close();
      connection.disconnect();
    }
  });

  it('when versions of many patients arrive in batches and singles, then each reference names its patient\'s partition, every status answers, and the newest version wins', async () => {
    h.startWorker();
    const ids = Array.from({ length: 60 }, (_, i) => 6000 + i);
    // Three versions per patient, newest in the middle batch: order of arrival must not matter.
    const batches = [1, 3, 2].map((v) => ids.map((id) => version(id, v)));
    const refs: string[] = [];
    for (const batch of batches) {
      const res = await post('/api/patients/batch', batch);
      expect(res.statusCode).toBe(202);
      refs.push(...(res.json().results as { jobId: string }[]).map((r) => r.jobId));
    }
    const singles = await Promise.all(ids.slice(0, 10).map((id) => post('/api/patients', version(id, 0))));
    for (const s of singles) expect(s.statusCode).toBe(202);
    const all = [...refs, ...singles.map((s) => s.json().jobId as string)];
    for (const ref of all) expect(ref).toMatch(/^p[0-3]-\d+-\d+$/);
    expect(new Set(all.map((r) => refParts(r).partition)).size).toBe(N);
    refs.forEach((ref, i) => expect(refParts(ref).partition).toBe(partitionOf({ center_id: SEED_SAMPLE.center_id, id: ids[i % ids.length]! }, N)));

    await until('all versions settled', 60_000, async () => (await Promise.all(all.map((r) => status(`/api/patients/jobs/${r}`)))).every((s) => s.state === 'stored' || s.state === 'skipped-as-stale'));
    const docs = await h.store.patients.find({ id: { $in: ids } }, { projection: { id: 1, fullname: 1 } }).toArray();
    expect(docs.length).toBe(ids.length);
    for (const d of docs) expect(d.fullname).toBe(`patient ${d.id} version 3`);
    expect((await h.app.inject({ method: 'GET', url: '/api/patients/jobs/p9-1-0' })).statusCode).toBe(404);
  });

  it('when metrics and the dashboard are read, then each partition has its own queue_jobs series and its own dashboard entry', async () => {
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (let p = 0; p < N; p++) expect(metrics).toMatch(new RegExp(`^queue_jobs\\{state="completed",partition="${p}"\\} \\d+$`, 'm'));
    const board = (await h.app.inject({ method: 'GET', url: '/admin/queues/api/queues' })).json() as { queues: { name: string }[] };
    expect(board.queues.map((q) => q.name).sort()).toEqual(h.queues.map((q) => q.name).sort());
  });

  it('when a dead letter of one partition is replayed, then its record goes to its patient\'s partition now', async () => {
    h.startWorker(); // in any order: this test needs a worker of every partition
    // Another producer put a poison record of patient 7001 into partition 0, whatever its hash says.
    const id = Array.from({ length: 50 }, (_, i) => 7000 + i).find((n) => partitionOf({ center_id: SEED_SAMPLE.center_id, id: n }, N) !== 0)!;
    const wrong = new Queue(h.queues[0]!.name, { connection: createRedis(h.config.REDIS_URL, 'producer'), prefix: h.config.QUEUE_PREFIX });
    try {
      const job = await wrong.add('patient.batch', { records: [{ patient: { ...SEED_SAMPLE, id, isactive: 999 }, receivedAt: Date.now() }] });
      await h.settled(`${job.id}-0`);
      await until('the dead letter', 10_000, async () => (await h.store.deadLetters.countDocuments({ patientId: id })) === 1);
      const letter = (await h.store.deadLetters.findOne({ patientId: id }))!;
      expect(letter.queue).toBe(h.queues[0]!.name);
      const res = await h.app.inject({ method: 'POST', url: `/api/admin/dead-letters/${encodeURIComponent(letter._id)}/replay` });
      expect(res.statusCode).toBe(202);
      expect(refParts(res.json().replayJobId).partition).toBe(partitionOf({ center_id: SEED_SAMPLE.center_id, id }, N));
      expect((await h.settled(res.json().replayJobId)).result?.outcome).toBe('rejected'); // still invalid: refused again, in its own partition
    } finally {
      await wrong.close();
      (await wrong.client).disconnect();
    }
  });
});

describe('REDIS_WAIT_REPLICAS on a Redis without replicas', () => {
  it('when no replica can confirm the job, then POST answers 503 REPLICAS_UNCONFIRMED as problem+json with Retry-After, for a single record and a batch alike', async () => {
    const w = await createHarness({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '50' });
    try {
      const one = await w.app.inject({ method: 'POST', url: '/api/patients', payload: { ...SEED_SAMPLE, id: 8001 } });
      const batch = await w.app.inject({ method: 'POST', url: '/api/patients/batch', payload: [{ ...SEED_SAMPLE, id: 8002 }] });
      for (const res of [one, batch]) {
        expect(res.statusCode).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['retry-after']).toBeDefined();
        expect(res.json()).toMatchObject({ status: 503, code: 'REPLICAS_UNCONFIRMED' });
      }
    } finally {
      await w.close();
    }
  });
});
