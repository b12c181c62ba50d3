import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDepthGuard } from '../../src/api/intake/backpressure.ts';
import { createEnqueuer } from '../../src/api/intake/enqueue.ts';
import { createIntake } from '../../src/api/intake/intake.ts';
import { createQueueEnqueuer } from '../../src/api/intake/queue-enqueuer.ts';
import type { ApiMetrics } from '../../src/api/metrics.ts';
import type { PatientQueue } from '../../src/shared/queue.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import type { PatientRecord } from '../../src/shared/queue.ts';

// API_ENQUEUE_TIMEOUT_MS is one bound per request: what the depth read spent of it, the enqueue no
// longer has. A queue whose Redis never answers stands in for a frozen server (the bound, not the
// server, must end the wait; the integration tests in redis-outage hold a real Redis's replies).
const frozenQueue = { name: 'frozen', add: () => new Promise(() => {}), addBulk: () => new Promise(() => {}) } as unknown as PatientQueue;
const record = (id: number): PatientRecord => ({ patient: { ...SEED_SAMPLE, id } as never, receivedAt: 0, submittedBy: 'k', tenant: 'all' as never });

afterEach(() => vi.useRealTimers());

/** One partition's enqueuer with a 1,500 ms bound. */
const enqueuerOn = (queue: PatientQueue) => createQueueEnqueuer(queue, { maxRecords: 100, maxBytes: 1e6, timeoutMs: 1500, log: pino({ level: 'silent' }) });

/** Where a submission stands: undefined while it waits, then 'acknowledged' or the error's code. */
function watch(submission: Promise<string[]>): () => string | undefined {
  let state: string | undefined;
  submission.then(() => (state = 'acknowledged'), (err: { code?: string }) => (state = err.code));
  return () => state;
}

describe('the enqueue deadline', () => {
  it('when a submitter has 100 ms of its bound left, then its enqueue answers QUEUE_UNAVAILABLE after those 100 ms, not after the whole bound', async () => {
    vi.useFakeTimers();
    const enqueuer = enqueuerOn(frozenQueue);
    const outcome = watch(enqueuer.submit([record(1)], 100, Date.now() + 100));
    await vi.advanceTimersByTimeAsync(150);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when two submitters share a job and one has only 100 ms of its bound left, then that one gets the 503 at 100 ms and the other waits out its own bound', async () => {
    vi.useFakeTimers();
    const enqueuer = enqueuerOn(frozenQueue);
    const fresh = watch(enqueuer.submit([record(1)], 100));
    const spent = watch(enqueuer.submit([record(2)], 100, Date.now() + 100));
    await vi.advanceTimersByTimeAsync(150);
    expect([fresh(), spent()]).toEqual([undefined, 'QUEUE_UNAVAILABLE']);
    await vi.advanceTimersByTimeAsync(1400);
    expect(fresh()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when a submitter comes with its bound already spent, then it is refused at once and joins no job', async () => {
    let adds = 0;
    const counting = { ...frozenQueue, add: () => (adds++, new Promise(() => {})) } as unknown as PatientQueue;
    const enqueuer = enqueuerOn(counting);
    await expect(enqueuer.submit([record(1)], 100, Date.now() - 1)).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await new Promise((resolve) => setImmediate(resolve)); // the turn in which a job would be sent
    expect(adds).toBe(0);
  });

  it('when records of several partitions are submitted with 100 ms left, then every partition is bounded by that deadline', async () => {
    vi.useFakeTimers();
    const enqueuer = createEnqueuer({ queues: [frozenQueue, frozenQueue, frozenQueue], maxRecords: 100, maxBytes: 1e6, timeoutMs: 1500, log: pino({ level: 'silent' }) });
    const outcome = watch(enqueuer.submit([1, 2, 3, 4, 5, 6].map(record), 600, Date.now() + 100));
    await vi.advanceTimersByTimeAsync(150);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when the depth read takes 1,400 ms of a 1,500 ms bound and the enqueue never answers, then the intake answers 503 at 1,500 ms, not 1,400 ms after the read', async () => {
    vi.useFakeTimers();
    const slowDepth = { ...frozenQueue, client: Promise.resolve({ info: () => Promise.resolve('maxmemory:0\r\n') }), getWaitingCount: () => new Promise((resolve) => setTimeout(() => resolve(0), 1400)) } as unknown as PatientQueue;
    const metrics = { rejected: { inc: () => {} }, enqueued: { inc: () => {} } } as unknown as ApiMetrics;
    const intake = createIntake({ queues: [slowDepth], metrics, log: pino({ level: 'silent' }), maxWaitingRecords: 1000, maxMemoryPercent: 90, jobMaxRecords: 100, jobMaxBytes: 1e6, enqueueTimeoutMs: 1500, depthRefreshMs: 0 });
    const outcome = watch(intake.accept([record(1)], 100, 'single'));
    await vi.advanceTimersByTimeAsync(1450);
    expect(outcome(), 'the depth read is done, the enqueue waits').toBeUndefined();
    await vi.advanceTimersByTimeAsync(100);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when no deadline is given, then the enqueue waits out its whole bound', async () => {
    vi.useFakeTimers();
    const enqueuer = enqueuerOn(frozenQueue);
    const outcome = watch(enqueuer.submit([record(1)], 100));
    await vi.advanceTimersByTimeAsync(1000);
    expect(outcome()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when the depth read meets a frozen Redis, then it ends at the request\'s deadline with QUEUE_UNAVAILABLE', async () => {
    vi.useFakeTimers();
    const frozen = { ...frozenQueue, client: Promise.resolve({ info: () => new Promise(() => {}) }), getWaitingCount: () => new Promise(() => {}) } as unknown as PatientQueue;
    const check = createDepthGuard([frozen], { maxWaiting: 1000, maxMemoryPercent: 90 }, () => 1, 0, 1500);
    const outcome = watch(check(1, Date.now() + 100).then(() => []));
    await vi.advanceTimersByTimeAsync(150);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });
});
