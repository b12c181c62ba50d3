import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { auditEntries, createAuditLog } from '../../src/worker/audit.ts';
import { createWorker, type PatientWorker } from '../../src/worker/create-worker.ts';
import { buildWorkerHttp } from '../../src/worker/http.ts';
import { createWorkerMetrics } from '../../src/worker/metrics.ts';
import { createObserver } from '../../src/worker/observer.ts';
import { captureLogger, createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { post } from '../support/http.ts';

// The worker's HTTP side and audit trail, wired as src/worker/run-worker.ts wires them.
let h: Harness;
let worker: PatientWorker;
const connection = () => createRedis(h.config.REDIS_URL, 'worker');
let metrics: ReturnType<typeof createWorkerMetrics>;
let http: Awaited<ReturnType<typeof buildWorkerHttp>>;
let counts: Queue;

beforeAll(async () => {
  h = await createHarness();
  const redis = connection();
  counts = new Queue(h.config.QUEUE_NAME, { connection: redis, prefix: h.config.QUEUE_PREFIX });
  metrics = createWorkerMetrics([{ partition: 0, queue: counts }]);
  const { logger } = captureLogger('worker');
  worker = createWorker({ config: h.config, connection: redis, store: h.store, logger, observer: createObserver(metrics, createAuditLog(h.store.audit)) });
  http = await buildWorkerHttp({ redis, store: h.store, metrics, logger });
});
afterAll(async () => {
  await worker.close();
  await counts.close();
  await http.close();
  await h.close();
});

const metric = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN);

describe('worker health, metrics and audit', () => {
  it('when Redis and MongoDB answer, then the worker is live and ready', async () => {
    expect((await http.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    await until('the worker ready', 5000, async () => (await http.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200, 100, async () => (await http.inject({ method: 'GET', url: '/health/ready' })).body);
    expect((await http.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({ status: 'ok', checks: { redis: 'ok', mongo: 'ok' } });
  });

  it('when a small run is done, then metrics and the audit trail match it, one entry per outcome', async () => {
    const newer = { ...SEED_SAMPLE, id: 11, modify_time: '2025-11-01T10:00:00+07:00' };
    expect((await post(h.app, { ...SEED_SAMPLE, id: 10 }, { headers: { prefer: 'wait=10' } })).statusCode).toBe(201); // inserted
    expect((await post(h.app, { ...SEED_SAMPLE, id: 10, fullname: 'b' }, { headers: { prefer: 'wait=10' } })).statusCode).toBe(200); // updated
    expect((await post(h.app, newer, { headers: { prefer: 'wait=10' } })).statusCode).toBe(201); // inserted
    const stale = await post(h.app, { ...newer, modify_time: '2025-10-01T10:00:00+07:00' }, { headers: { prefer: 'wait=10' } });
    expect(stale.headers['x-ingest-outcome']).toBe('stale');
    // A poison record beside a valid one in a job of their own: the job completes, the poison alone is refused.
    const [poison, neighbour] = await h.enqueueJob([
      { patient: { id: 12, center_id: 3, isactive: 999 }, receivedAt: Date.now(), submittedBy: 'someone' },
      { patient: { ...SEED_SAMPLE, id: 13 }, receivedAt: Date.now(), submittedBy: 'someone' },
    ]);
    expect((await h.settled(poison!)).state).toBe('failed');
    expect((await h.settled(neighbour!)).result?.outcome).toBe('inserted');

    const text = (await http.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metric(text, 'worker_jobs_completed_total{outcome="inserted"}')).toBe(3);
    expect(metric(text, 'worker_jobs_completed_total{outcome="updated"}')).toBe(1);
    expect(metric(text, 'worker_jobs_completed_total{outcome="stale"}')).toBe(1);
    expect(metric(text, 'worker_dead_letters_total')).toBe(1);
    expect(text).not.toMatch(/^worker_jobs_failed_total\{/m); // no job failed: the poison record did not take its job down
    expect(metric(text, 'ingest_latency_seconds_count')).toBe(4);
    expect(metric(text, 'worker_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^queue_jobs\{state="failed",partition="0"\} 0$/m);
    expect(text).toMatch(/^queue_jobs\{state="completed",partition="0"\} 5$/m);

    // Written before each job completed: no wait needed.
    // The whole stored entries (no projection): a patient value anywhere in them would show below.
    const audit = (await auditEntries(h.store.audit)).map(({ at, attempt, ...entry }) => entry).sort((a, b) => a.jobId.localeCompare(b.jobId)); // job ids 1..5 here: sorts as submitted
    expect(audit).toEqual([
      { jobId: '1-0', action: 'inserted', patientId: 10, keyId: 'dev', centerId: 3 },
      { jobId: '2-0', action: 'updated', patientId: 10, keyId: 'dev', centerId: 3 },
      { jobId: '3-0', action: 'inserted', patientId: 11, keyId: 'dev', centerId: 3 },
      { jobId: '4-0', action: 'stale', patientId: 11, keyId: 'dev', centerId: 3 },
      { jobId: poison, action: 'rejected', patientId: 12, keyId: 'someone', centerId: 3, code: 'PATIENT_INVALID' },
      { jobId: neighbour, action: 'inserted', patientId: 13, keyId: 'someone', centerId: 3 },
    ]);
    expect(JSON.stringify(audit)).not.toContain('sample string');
  });
});
