import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { JOB_NAME, recordRef } from '../../src/shared/queue.ts';
import { createAuditLog } from '../../src/worker/audit.ts';
import { createWorkerMetrics } from '../../src/worker/metrics.ts';
import { runMigrateKeys } from '../../src/worker/migrate-keys.ts';
import { createObserver } from '../../src/worker/observer.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { seedKey } from '../support/patient-docs.ts';
import { startProcess } from '../support/processes.ts';
import { until } from '../support/records.ts';
import { idKey, startWireServer, type WireServer } from '../support/wire-server.ts';

// The whole worker (real Redis, real BullMQ, the real driver) against a scripted MongoDB 8
// replica-set primary (test/support/wire-server.ts): what a write-concern timeout does to a job,
// its retries, its result and its audit trail; and what the worker says of servers it must refuse.

const WCE = { code: 64, codeName: 'WriteConcernTimeout', errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } };

let server: WireServer;
let h: Harness;
beforeAll(async () => {
  server = await startWireServer();
  h = await createHarness({ MONGO_URL: server.url, MONGO_DB: 'hemo', JOB_BACKOFF_MS: '50' });
  h.startWorker({ observer: createObserver(createWorkerMetrics([{ partition: 0, queue: h.queue }]), createAuditLog(h.store.audit)) });
});
afterAll(async () => {
  await h?.close();
  await server?.close();
});

describe('the worker on a MongoDB replica set (scripted)', () => {
  it('when the first attempt\'s insert times out waiting for the majority, then the job is retried and completes "inserted", the audit says "inserted" once, and no log line carries a patient value', async () => {
    // fails on 058d750 when the confirming write times out too: the retry's result was "unchanged".
    server.script('insert', (_cmd, ctx) => ({ ...ctx.apply(), writeConcernError: WCE }));
    server.script('update', (cmd, ctx) => {
      const confirm = typeof (cmd.updates as { q: Record<string, unknown> }[])[0]!.q['_ingest.version'] === 'string';
      return confirm ? { ...ctx.apply(), writeConcernError: WCE } : ctx.apply();
    });
    const patient = { ...SEED_SAMPLE, id: 7101, fullname: 'Somchai Wire-Server' };
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(patient) });
    expect(res.statusCode).toBe(202);
    const { state, job, result } = await h.settled(res.json().jobId);
    expect([state, result?.outcome, job.attemptsMade]).toEqual(['completed', 'inserted', 2]); // one failed attempt, then the one that completed
    expect(server.pending('insert')).toBe(0);
    const doc = server.collection('hemo', 'patients').get(idKey(seedKey(7101)));
    expect(doc).toMatchObject({ fullname: 'Somchai Wire-Server', _ingest: { jobId: res.json().jobId } });
    await until('the audit entries', 10_000, async () => server.collection('hemo', 'audit').size > 0);
    const entries = [...server.collection('hemo', 'audit').values()].flatMap((r) => r.entries as { patientId: number; action: string }[]).filter((e) => e.patientId === 7101);
    expect(entries.map((e) => e.action)).toEqual(['inserted']);
    const logs = h.workerLogs.text();
    expect(logs).toContain('DB_NOT_DURABLE');
    expect(logs).not.toContain('Somchai');
    expect(logs).not.toContain(SEED_SAMPLE.hn);
  });
});

describe('the audit trail on a replica set (scripted)', () => {
  it('when the audit insert is applied but times out waiting for the majority, then the job is put back, writes the same audit document again, and the trail holds it once', async () => {
    // fails on 058d750: the second write of the audit entries added a second document.
    server.script('insert', (_cmd, ctx) => ctx.apply(), (_cmd, ctx) => ({ ...ctx.apply(), writeConcernError: WCE }));
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...SEED_SAMPLE, id: 7102 }) });
    const { state, result } = await h.settled(res.json().jobId);
    expect([state, result?.outcome]).toEqual(['completed', 'inserted']);
    expect(server.pending('insert')).toBe(0);
    const inserts = server.commands('insert').filter((c) => c.body.insert === 'audit' && JSON.stringify(c.body.documents).includes('7102'));
    expect(inserts.length).toBe(2); // written, then written again after the write-concern error
    const trail = [...server.collection('hemo', 'audit').values()].filter((r) => (r.entries as { patientId: number }[]).some((e) => e.patientId === 7102));
    expect(trail).toHaveLength(1);
    expect(h.workerLogs.text()).toContain('audit entries not written: job delayed instead of finished');
  });
});

describe('a job failing for good (scripted)', () => {
  it('when a job runs out of attempts, then its dead letter holds the record and the failed job in Redis keeps ids, never the patient\'s values', async () => {
    // Issue 22: failed jobs kept whole records in Redis for JOB_KEEP_FAILED_AGE_S (fails on 058d750).
    server.script('insert', { ok: 0, code: 91, codeName: 'ShutdownInProgress', errmsg: 'The server is in quiesce mode and will shut down' });
    const record = { patient: { ...SEED_SAMPLE, id: 7103, fullname: 'Malee Redacted-Check' }, receivedAt: Date.now(), submittedBy: 'dev' };
    const job = await h.queue.add(JOB_NAME, { records: [record] }, { attempts: 1 });
    const { state } = await h.settled(recordRef(String(job.id), 0));
    expect(state).toBe('failed');
    const failed = (await h.queue.getJob(String(job.id)))!;
    expect(failed.data.records).toEqual([{ patient: { id: 7103, center_id: SEED_SAMPLE.center_id }, receivedAt: record.receivedAt, submittedBy: 'dev', redacted: true }]);
    expect(JSON.stringify(failed.data)).not.toContain('Malee');
    const letter = [...server.collection('hemo', 'dead_letters').values()].find((l) => l.jobId === recordRef(String(job.id), 0));
    expect(letter).toMatchObject({ errorCode: 'DB_UNAVAILABLE', patientId: 7103, data: { patient: { fullname: 'Malee Redacted-Check' } } });
    const status = await h.app.inject({ method: 'GET', url: `/api/patients/jobs/${recordRef(String(job.id), 0)}` });
    expect(status.json()).toMatchObject({ state: 'failed', patientId: 7103 });
  });
});

describe('servers the worker refuses at start (as a process)', () => {
  const env = () => ({ REDIS_URL: h.config.REDIS_URL, MONGO_URL: server.url, MONGO_DB: 'refused', QUEUE_NAME: h.config.QUEUE_NAME, WORKER_HTTP_PORT: '0' });

  it('when MONGO_WRITE_CONCERN asks more members than the replica set has, then the worker exits 2 naming the variable and takes no job', async () => {
    // fails on 058d750: the worker took jobs, and every write failed with code 100 after the wait.
    const worker = startProcess('worker', { ...env(), MONGO_WRITE_CONCERN: '3' });
    expect((await worker.exited).code, worker.output()).toBe(2);
    expect(worker.output()).toMatch(/MONGO_WRITE_CONCERN is 3, but the server has 1 data-bearing member; not taking jobs/);
  });

  it('when migrate-keys meets a server that says it is MongoDB 5.0, then it ends 2 naming what it found, writing nothing', async () => {
    server.buildInfo = { version: '5.0.9', versionArray: [5, 0, 9, 0] };
    try {
      const errors: string[] = [];
      const code = await runMigrateKeys([], env(), () => {}, (line) => errors.push(line));
      expect([code, errors.join('')]).toEqual([2, expect.stringMatching(/^migrate-keys: MONGO_URL the server is MongoDB 5\.0\.9/)]);
      expect(server.commands('update').filter((c) => c.db === 'refused')).toEqual([]);
    } finally {
      server.buildInfo = {};
    }
  });

  it('when the server says it is MongoDB 5.0, then the worker exits 2 naming what it found', async () => {
    // fails on 058d750: any server that was not FerretDB was written to as MongoDB.
    server.buildInfo = { version: '5.0.9', versionArray: [5, 0, 9, 0] };
    try {
      const worker = startProcess('worker', env());
      expect((await worker.exited).code, worker.output()).toBe(2);
      expect(worker.output()).toMatch(/MONGO_URL the server is MongoDB 5\.0\.9: MongoDB 6\.0 or later \(or the embedded FerretDB\) is needed/);
    } finally {
      server.buildInfo = {};
    }
  });
});
