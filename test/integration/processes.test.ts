import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/local-servers.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { post } from '../support/http.ts';
import { startProcess, waitForOutput } from '../support/processes.ts';
import { testConfig } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { seedKey } from '../support/patient-docs.ts';

const config = testConfig();
const store = createStore(config);
afterAll(async () => {
  await store.db.dropDatabase().catch(() => {});
  await store.close();
});

describe('the API and worker as processes', () => {
  it('when a variable is invalid, then the process exits 2 naming it', async () => {
    const api = startProcess('api', { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, API_PORT: 'eighty' });
    expect((await api.exited).code).toBe(2);
    expect(api.output()).toMatch(/api: invalid configuration: API_PORT/);
    const worker = startProcess('worker', { MONGO_URL: config.MONGO_URL });
    expect((await worker.exited).code).toBe(2);
    expect(worker.output()).toMatch(/REDIS_URL is required/);
  });

  it('when MONGO_WRITE_CONCERN=0 (writes never acknowledged), then the API and the worker exit 2 naming it', async () => {
    const env = { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_WRITE_CONCERN: '0', AUTH_DEV_MODE: 'true' };
    const [api, worker] = [startProcess('api', env), startProcess('worker', env)];
    expect((await api.exited).code).toBe(2);
    expect((await worker.exited).code).toBe(2);
    expect(api.output()).toMatch(/api: invalid configuration: MONGO_WRITE_CONCERN must be majority or 1-50/);
    expect(worker.output()).toMatch(/worker: invalid configuration: MONGO_WRITE_CONCERN must be majority or 1-50/);
  });

  // Issue 21, defect 6: each of these in MONGO_URL won silently over the configuration (fails on 058d750:
  // both processes started).
  it.each([
    ['journal=false', {}, /MONGO_URL must not set journal \(it would override MONGO_JOURNAL/],
    ['w=0', {}, /MONGO_URL must not set w \(it would override MONGO_WRITE_CONCERN/],
    ['retryWrites=false', {}, /MONGO_URL must not set retryWrites=false/],
    ['tls=true&tlsInsecure=true', { NODE_ENV: 'production', ALLOW_PLAINTEXT_DATASTORES: 'false', REDIS_URL: 'rediss://127.0.0.1:1' }, /MONGO_URL must not set tlsInsecure when NODE_ENV=production/],
  ])('when MONGO_URL carries %s, then the API and the worker exit 2 naming the option', async (option, extra, named) => {
    const env = { REDIS_URL: config.REDIS_URL, MONGO_URL: `${config.MONGO_URL}?${option}`, AUTH_DEV_MODE: 'true', ...extra };
    const [api, worker] = [startProcess('api', env), startProcess('worker', env)];
    expect((await api.exited).code, api.output()).toBe(2);
    expect((await worker.exited).code, worker.output()).toBe(2);
    expect(api.output()).toMatch(named);
    expect(worker.output()).toMatch(named);
  });

  it('when the API gets SIGTERM while a request is in flight, then that request still gets its answer and the API exits 0', async () => {
    const port = await freePort();
    // No worker: a `Prefer: wait=3` request stays in the API for its 3 s, then answers 202.
    const api = startProcess('api', { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_DB: config.MONGO_DB, QUEUE_NAME: config.QUEUE_NAME, API_PORT: String(port), AUTH_DEV_MODE: 'true', LOG_LEVEL: 'info', API_ENQUEUE_TIMEOUT_MS: '10000' });
    const connection = createRedis(config.REDIS_URL, 'producer');
    const queue = new Queue(config.QUEUE_NAME, { connection, prefix: config.QUEUE_PREFIX });
    let signalled = false;
    try {
      await waitForOutput(api, /Server listening/);
      const inFlight = post(`http://127.0.0.1:${port}`, { ...SEED_SAMPLE, id: 78 }, { headers: { prefer: 'wait=3' } });
      // The request has been enqueued (its job is in Redis) and now waits: then the signal.
      await until('the request enqueued', 10_000, async () => (await queue.getWaitingCount()) >= 1, 50, async () => api.output().slice(-1500));
      api.child.kill('SIGTERM');
      signalled = true;
      const answer = await inFlight;
      expect(answer.statusCode, answer.body).toBe(202);
      expect(answer.json()).toMatchObject({ status: 'queued' });
    } finally {
      if (!signalled) api.child.kill('SIGKILL'); // a second SIGTERM would mean "exit now"
      await queue.close();
      connection.disconnect();
    }
    expect(await api.exited, api.output().slice(-3000)).toEqual({ code: 0, signal: null });
  });

  it('when both run, then a posted record is stored; on SIGTERM both exit 0', async () => {
    const port = await freePort();
    const env = { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_DB: config.MONGO_DB, QUEUE_NAME: config.QUEUE_NAME, API_PORT: String(port), AUTH_DEV_MODE: 'true' };
    const api = startProcess('api', env);
    const worker = startProcess('worker', env);
    try {
      await waitForOutput(api, /Server listening/);
      await waitForOutput(worker, /worker started/);
      const res = await fetch(`http://127.0.0.1:${port}/api/patients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...SEED_SAMPLE, id: 77 }) });
      expect(res.status).toBe(202);
      const { statusUrl } = (await res.json()) as { statusUrl: string };
      let status: unknown;
      await until('the record stored', 15_000, async () => {
        status = await (await fetch(`http://127.0.0.1:${port}${statusUrl}`)).json();
        return (status as { state?: string }).state === 'stored';
      }, 50, async () => ({ status, worker: worker.output().slice(-2000) }));
      expect(status).toMatchObject({ state: 'stored', outcome: 'inserted', patientId: 77 });
      expect(await store.patients.countDocuments({ _id: seedKey(77) })).toBe(1);
      expect(worker.output()).toMatch(/"records":1,"inserted":1.*"msg":"job done"/);
    } finally {
      api.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
    }
    expect(await api.exited).toEqual({ code: 0, signal: null });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.output()).toMatch(/"msg":"stopped"/);
  });
});
