import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { post } from '../support/http.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ QUEUE_MAX_WAITING: '5' });
});
afterAll(() => h.close());

const metric = (text: string, name: string) => Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN);

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
    for (let i = 1; i <= 5; i++) expect((await post(h.app, { ...SEED_SAMPLE, id: i })).statusCode).toBe(202);
    await new Promise((r) => setTimeout(r, 300)); // let the shared depth reading refresh
    const full = await post(h.app, { ...SEED_SAMPLE, id: 6 });
    expect(full.statusCode).toBe(503);
    expect(full.headers['retry-after']).toBeDefined();
    expect(full.json()).toMatchObject({ code: 'QUEUE_FULL' });
    expect(await h.queue.getWaitingCount()).toBe(5);

    h.startWorker();
    await until('the queue drained', 5000, async () => (await h.queue.getWaitingCount()) === 0, 50, () => h.queue.getJobCounts());
    await new Promise((r) => setTimeout(r, 300));
    expect((await post(h.app, { ...SEED_SAMPLE, id: 6 })).statusCode).toBe(202);
  });

  it('when /metrics is scraped after a small run, then the counters match what was done', async () => {
    await post(h.app, { ...SEED_SAMPLE, id: 7, ...{ isactive: 1000 } }); // invalid
    const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metric(text, 'patients_enqueued_total{endpoint="single"}')).toBe(6);
    expect(metric(text, 'patients_rejected_total{reason="invalid"}')).toBe(1);
    expect(metric(text, 'http_requests_total{route="/api/patients",method="POST",status="202"}')).toBe(6);
    expect(metric(text, 'http_requests_total{route="/api/patients",method="POST",status="503"}')).toBe(1);
    expect(text).toMatch(/^queue_jobs\{state="completed"\} \d+$/m);
    expect(text).not.toContain('sample string');
  });
});
