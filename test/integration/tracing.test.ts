import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, ROOT } from '../support/local-servers.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { JOB_NAME, type PatientJobData } from '../../src/shared/queue.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { makeCanary, withCanary } from '../support/canary.ts';
import { testConfig } from '../support/harness.ts';
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { startProcess, waitForOutput, type Proc } from '../support/processes.ts';
import { seedKey } from '../support/patient-docs.ts';
import { until } from '../support/records.ts';

// The API and the worker as processes, exporting OTLP/HTTP (JSON) to a receiver in this test.
const config = testConfig();
const store = createStore(config);
const CANARY = makeCanary();
const REPORT_LOADS = `--import=${join(ROOT, 'test/support/report-otel-loads.ts')}`;
afterAll(async () => {
  await store.db.dropDatabase().catch(() => {});
  await store.close();
});

const SERVER = 2, PRODUCER = 4, CONSUMER = 5; // OTLP span kinds

async function startBoth(extra: Record<string, string>): Promise<{ api: Proc; worker: Proc; base: string }> {
  const port = await freePort();
  const env = { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_DB: config.MONGO_DB, QUEUE_NAME: config.QUEUE_NAME, API_PORT: String(port), AUTH_DEV_MODE: 'true', API_ENQUEUE_TIMEOUT_MS: '10000', NODE_OPTIONS: REPORT_LOADS, ...extra };
  const api = startProcess('api', env);
  const worker = startProcess('worker', env);
  await waitForOutput(api, /Server listening/);
  await waitForOutput(worker, /taking jobs/);
  return { api, worker, base: `http://127.0.0.1:${port}` };
}

/** SIGTERM both and wait for a clean exit: that is when the SDK exports what it still holds. */
async function stopBoth(...procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.kill('SIGTERM');
  for (const p of procs) expect(await p.exited).toEqual({ code: 0, signal: null });
}

async function postStored(base: string, body: unknown, path = '/api/patients'): Promise<void> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  const { statusUrl } = (await res.json()) as { statusUrl: string };
  let status: unknown;
  await until('the record stored', 20_000, async () => {
    status = await (await fetch(`${base}${statusUrl}`)).json();
    return (status as { state?: string }).state === 'stored';
  }, 50, async () => status);
}

const ancestors = (span: ReceivedSpan, all: ReceivedSpan[]): ReceivedSpan[] => {
  const byId = new Map(all.map((s) => [s.spanId, s]));
  const chain: ReceivedSpan[] = [];
  for (let p = byId.get(span.parentSpanId); p; p = byId.get(p.parentSpanId)) chain.push(p);
  return chain;
};

describe('tracing (OpenTelemetry)', () => {
  it('when tracing is on, then one trace runs from POST /api/patients through the enqueue and the job to the MongoDB write, the job span links to each record’s request, and no span holds a patient value', async () => {
    const rx = await startOtlpReceiver();
    const { api, worker, base } = await startBoth({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    const queue = new Queue<PatientJobData>(config.QUEUE_NAME, { connection: createRedis(config.REDIS_URL, 'producer') });
    const [traceA, traceB] = [randomBytes(16).toString('hex'), randomBytes(16).toString('hex')];
    let legacyJobId = '';
    try {
      // The canary in the record, in a query string and in a refused record.
      await postStored(base, { ...withCanary(CANARY), id: 301 }, `/api/patients?note=${CANARY}`);
      const refused = await fetch(`${base}/api/patients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...withCanary(CANARY), id: 302, create_time: CANARY }) });
      expect(refused.status).toBe(400);
      await fetch(`${base}/api/patients/301?center_id=${CANARY}`);
      // Another producer's job: two records from two (made-up) traces and one without (as before tracing).
      const tp = (traceId: string) => `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
      const job = await queue.add(JOB_NAME, {
        records: [
          { patient: { ...SEED_SAMPLE, id: 311 }, receivedAt: Date.now(), traceparent: tp(traceA) },
          { patient: { ...SEED_SAMPLE, id: 312 }, receivedAt: Date.now(), traceparent: tp(traceB) },
          { patient: { ...SEED_SAMPLE, id: 313 }, receivedAt: Date.now() },
        ],
      });
      legacyJobId = String(job.id);
      await until('the other producer’s records stored', 20_000, async () => (await store.patients.countDocuments({ _id: { $in: [seedKey(311), seedKey(312), seedKey(313)] } })) === 3);
    } finally {
      await queue.close();
      await stopBoth(api, worker);
      await rx.close();
    }
    const spans = rx.spans();
    const seen = () => spans.map((s) => `${s.service} ${s.traceId.slice(0, 8)} ${s.spanId.slice(0, 8)}<-${s.parentSpanId.slice(0, 8)} ${s.kind} ${s.name}`).join('\n');

    const request = spans.find((s) => s.kind === SERVER && s.name === 'POST /api/patients' && s.attributes['http.response.status_code'] === 202);
    expect(request, seen()).toBeDefined();
    expect(request!.attributes).toMatchObject({ 'http.route': '/api/patients', 'url.path': '/api/patients', 'url.query': '(redacted)' });
    const trace = spans.filter((s) => s.traceId === request!.traceId);
    const enqueue = trace.find((s) => s.kind === PRODUCER && s.service === 'hemo-api' && s.name.startsWith('add '));
    expect(enqueue, seen()).toBeDefined();
    expect(ancestors(enqueue!, trace)).toContain(request);
    const jobSpan = trace.find((s) => s.kind === CONSUMER && s.service === 'hemo-worker' && s.name === `process ${config.QUEUE_NAME}`);
    expect(jobSpan, seen()).toBeDefined();
    expect(jobSpan!.parentSpanId).toBe(enqueue!.spanId);
    expect(jobSpan!.links).toContainEqual({ traceId: request!.traceId, spanId: request!.spanId });
    const write = trace.find((s) => s.attributes['db.system.name'] === 'mongodb' && s.attributes['db.collection.name'] === 'patients' && ancestors(s, trace).includes(jobSpan!));
    expect(write, seen()).toBeDefined();
    expect(write!.attributes['db.query.text']).toBe('?');

    // The other producer's job: its own trace, linked to both records' requests; the record without one is stored all the same.
    const otherJob = spans.find((s) => s.kind === CONSUMER && s.attributes['bullmq.job.id'] === legacyJobId);
    expect(otherJob, seen()).toBeDefined();
    expect(otherJob!.links.map((l) => l.traceId).sort()).toEqual([traceA, traceB].sort());

    // No patient value anywhere in what was exported (names, attributes, events, links, resources).
    expect(rx.bodies().length).toBeGreaterThan(0);
    for (const body of rx.bodies()) expect(body.includes(CANARY), 'an exported span holds the canary').toBe(false);
    // BullMQ's housekeeping (waiting for jobs, lock renewal, stall checks) starts no trace of its own.
    expect(spans.filter((s) => s.parentSpanId === '' && s.kind !== SERVER && s.kind !== CONSUMER && s.kind !== PRODUCER).map((s) => s.name)).toEqual([]);
    for (const p of [api, worker]) expect(p.output()).toMatch(/otel-load @opentelemetry\/sdk-node/);
  });

  it('when a request brings a traceparent, then the API continues it only from a peer in API_TRUST_PROXY; anyone else\'s request starts a trace of its own', async () => {
    const rx = await startOtlpReceiver();
    const [given, parent] = [randomBytes(16).toString('hex'), randomBytes(8).toString('hex')];
    const ask = async (service: string, extra: Record<string, string>) => {
      const port = await freePort();
      const api = startProcess('api', {
        REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_DB: config.MONGO_DB, QUEUE_NAME: config.QUEUE_NAME, API_PORT: String(port), AUTH_DEV_MODE: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: service, ...extra,
      });
      try {
        await waitForOutput(api, /Server listening/);
        const res = await fetch(`http://127.0.0.1:${port}/api/patients/jobs/1-0`, { headers: { traceparent: `00-${given}-${parent}-01`, tracestate: 'client=said-so', baggage: 'center=forged' } });
        expect([200, 404]).toContain(res.status); // job 1 may exist (the first test's)
      } finally {
        await stopBoth(api);
      }
    };
    try {
      await ask('api-untrusted', {}); // API_TRUST_PROXY=false: the test's own address is nobody's proxy
      await ask('api-other-proxy', { API_TRUST_PROXY: '10.0.0.0/8' });
      await ask('api-trusted', { API_TRUST_PROXY: '127.0.0.1' }); // the test is the proxy
    } finally {
      await rx.close();
    }
    const server = (service: string) => rx.spans().find((s) => s.service === service && s.kind === SERVER && s.name === 'GET /api/patients/jobs/:jobId');
    for (const service of ['api-untrusted', 'api-other-proxy']) {
      const span = server(service);
      expect(span, `${service}: ${rx.spans().map((x) => `${x.service} ${x.kind} ${x.name}`).join('; ')}`).toBeDefined();
      expect([span!.traceId === given, span!.parentSpanId]).toEqual([false, '']);
    }
    expect(server('api-trusted')).toMatchObject({ traceId: given, parentSpanId: parent });
    // The untrusted requests' tracestate goes nowhere either (the trusted proxy's is kept, as it should).
    const untrusted = rx.bodies().filter((b) => !b.includes('"api-trusted"'));
    expect(untrusted.length).toBeGreaterThan(0);
    for (const body of untrusted) expect(body).not.toMatch(/said-so|forged/);
  });

  it('when no OTEL variable enables tracing (or OTEL_SDK_DISABLED=true), then the SDK is never loaded and nothing is exported', async () => {
    const rx = await startOtlpReceiver();
    // The worker even has an endpoint, disabled; the API has no OTEL variable at all.
    const { api, worker, base } = await startBoth({});
    const disabledWorker = startProcess('worker', { REDIS_URL: config.REDIS_URL, MONGO_URL: config.MONGO_URL, MONGO_DB: config.MONGO_DB, QUEUE_NAME: config.QUEUE_NAME, NODE_OPTIONS: REPORT_LOADS, OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    try {
      await waitForOutput(disabledWorker, /taking jobs/);
      await stopBoth(worker); // the disabled one takes the next job
      await postStored(base, { ...SEED_SAMPLE, id: 321 });
      expect(disabledWorker.output()).toMatch(/"inserted":1.*"msg":"job done"/);
    } finally {
      await stopBoth(api, worker, disabledWorker);
      await rx.close();
    }
    expect(rx.bodies()).toEqual([]);
    for (const p of [api, worker, disabledWorker]) expect(p.output()).not.toMatch(/otel-load/);
  });
});
