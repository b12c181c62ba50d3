import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDepthGuard } from '../../src/api/intake/backpressure.ts';
import { createQueueEnqueuer } from '../../src/api/intake/queue-enqueuer.ts';
import type { PatientQueue } from '../../src/shared/queue.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import type { PatientRecord } from '../../src/shared/queue.ts';

// API_ENQUEUE_TIMEOUT_MS is one bound per request: what the depth read spent of it, the enqueue no
// longer has. A queue whose Redis never answers stands in for a frozen server (the bound, not the
// server, must end the wait; the integration tests in redis-outage hold a real Redis's replies).
const frozenQueue = { name: 'frozen', add: () => new Promise(() => {}), addBulk: () => new Promise(() => {}) } as unknown as PatientQueue;
const record = (id: number): PatientRecord => ({ patient: { ...SEED_SAMPLE, id } as never, receivedAt: 0, submittedBy: 'k', tenant: 'all' as never });

afterEach(() => vi.useRealTimers());

/** Where a submission stands: undefined while it waits, then 'acknowledged' or the error's code. */
function watch(submission: Promise<string[]>): () => string | undefined {
  let state: string | undefined;
  submission.then(() => (state = 'acknowledged'), (err: { code?: string }) => (state = err.code));
  return () => state;
}

describe('the enqueue deadline', () => {
  it('when a submitter has 100 ms of its bound left, then its enqueue answers QUEUE_UNAVAILABLE after those 100 ms, not after the whole bound', async () => {
    vi.useFakeTimers();
    const enqueuer = createQueueEnqueuer(frozenQueue, { maxRecords: 100, maxBytes: 1e6, timeoutMs: 1500, log: pino({ level: 'silent' }) });
    const outcome = watch(enqueuer.submit([record(1)], 100, Date.now() + 100));
    await vi.advanceTimersByTimeAsync(150);
    expect(outcome()).toBe('QUEUE_UNAVAILABLE');
  });

  it('when two submitters share a job, then the job is bounded by the earlier deadline and both get the 503', async () => {
    vi.useFakeTimers();
    const enqueuer = createQueueEnqueuer(frozenQueue, { maxRecords: 100, maxBytes: 1e6, timeoutMs: 1500, log: pino({ level: 'silent' }) });
    const late = watch(enqueuer.submit([record(1)], 100));
    const early = watch(enqueuer.submit([record(2)], 100, Date.now() + 100));
    await vi.advanceTimersByTimeAsync(150);
    expect([late(), early()]).toEqual(['QUEUE_UNAVAILABLE', 'QUEUE_UNAVAILABLE']);
  });

  it('when no deadline is given, then the enqueue waits out its whole bound', async () => {
    vi.useFakeTimers();
    const enqueuer = createQueueEnqueuer(frozenQueue, { maxRecords: 100, maxBytes: 1e6, timeoutMs: 1500, log: pino({ level: 'silent' }) });
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
