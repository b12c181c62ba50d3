import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { post, type Answer } from '../support/http.ts';
import { until } from '../support/records.ts';

let h: Harness;
beforeAll(async () => {
  // The depth reading is taken on every request (no 250 ms cache): what the queue holds decides at once.
  h = await createHarness({ QUEUE_MAX_WAITING: '5', QUEUE_DEPTH_REFRESH_MS: '0' });
});
afterAll(() => h.close());

const scrape = async () => (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
const metric = (text: string, name: string) => Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.slice(name.length + 1) ?? 0);

describe('health', () => {
  it('when Redis answers, then live and ready are 200', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await h.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', checks: { redis: 'ok' } });
  });
});

describe('backpressure and metrics', () => {
  it('when more jobs wait than QUEUE_MAX_WAITING, then POST answers 503 with Retry-After, and 202 again once the queue drains', async () => {
    // Fills the queue up to the bound from wherever it stands (nothing else posts in this file meanwhile).
    const room = 5 - (await h.queue.getWaitingCount());
    for (let i = 1; i <= room; i++) expect((await post(h.app, { ...SEED_SAMPLE, id: i })).statusCode).toBe(202);
    const before = await scrape();
    const full = await post(h.app, { ...SEED_SAMPLE, id: 6 });
    expect(full.statusCode, full.body).toBe(503);
    expect(full.headers['retry-after']).toBe('5');
    expect(full.json()).toMatchObject({ code: 'QUEUE_FULL' });
    expect(await h.queue.getWaitingCount()).toBe(5);
    const after = await scrape();
    expect(metric(after, 'patients_rejected_total{reason="queue_full"}') - metric(before, 'patients_rejected_total{reason="queue_full"}')).toBe(1);
    expect(metric(after, 'http_requests_total{route="/api/patients",method="POST",status="503"}') - metric(before, 'http_requests_total{route="/api/patients",method="POST",status="503"}')).toBe(1);

    h.startWorker();
    try {
      await until('the queue drained', 10_000, async () => (await h.queue.getWaitingCount()) === 0, 50, () => h.queue.getJobCounts());
      expect((await post(h.app, { ...SEED_SAMPLE, id: 6 })).statusCode).toBe(202);
    } finally {
      await h.stopWorker();
    }
  });

  it('when /metrics is scraped after a small run, then the counters moved by exactly what was done and the queue gauge is what Redis holds', async () => {
    const before = await scrape();
    expect((await post(h.app, { ...SEED_SAMPLE, id: 7 })).statusCode).toBe(202);
    expect((await post(h.app, { ...SEED_SAMPLE, id: 8, isactive: 1000 })).statusCode).toBe(400); // invalid
    const after = await scrape();
    const moved = (name: string) => metric(after, name) - metric(before, name);
    expect(moved('patients_enqueued_total{endpoint="single"}')).toBe(1);
    expect(moved('patients_rejected_total{reason="invalid"}')).toBe(1);
    expect(moved('http_requests_total{route="/api/patients",method="POST",status="202"}')).toBe(1);
    expect(moved('http_requests_total{route="/api/patients",method="POST",status="400"}')).toBe(1);
    // No worker runs here: the waiting jobs stay put between the scrape and this read.
    expect(metric(after, 'queue_jobs{state="waiting",partition="0"}')).toBe(await h.queue.getWaitingCount());
    expect(await h.queue.getWaitingCount()).toBeGreaterThanOrEqual(1);
    expect(after).not.toContain('sample string');
  });

  it('when the event loop lags past API_MAX_EVENT_LOOP_DELAY_MS, then POST answers 503 with Retry-After, while /health/live stays 200', async () => {
    const lagging = await createHarness({ API_MAX_EVENT_LOOP_DELAY_MS: '10' });
    try {
      let last: Answer | undefined;
      // A deliberate overload: the loop is held 200 ms at a time until the plugin's sample sees it.
      await until('a 503 for the lag', 15_000, async () => {
        const end = Date.now() + 200;
        while (Date.now() < end); // busy: nothing else runs meanwhile
        last = await post(lagging.app, { ...SEED_SAMPLE, id: 9 });
        return last.statusCode === 503;
      }, 10, async () => last?.body);
      expect(last!.headers['retry-after']).toBe('5');
      expect(last!.json()).toMatchObject({ status: 503, detail: expect.stringMatching(/overloaded/) });
      expect((await lagging.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await lagging.close();
    }
  });
});
