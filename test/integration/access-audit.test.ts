import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/shared/access-audit.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { runDeadLetterCommand } from '../../src/worker/dead-letters/dead-letter-command.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';

// Reads and operator actions leave an append-only trail: who, which patient, what came of it, from
// which address (X-Forwarded-For believed only from API_TRUST_PROXY). Never a patient value.
const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');
const PROXY = '10.0.0.1';
const CANARY = `CANARY-${Math.random().toString(36).slice(2)}`;

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer), API_TRUST_PROXY: PROXY });
  const doc = (id: number, center: number) => ({
    ...SEED_SAMPLE, _id: patientKey(center, id), id, center_id: center, fullname: CANARY, hn: CANARY, create_time: null, modify_time: null, followup_date: null,
    _ingest: { version: 'x', jobId: '0', receivedAt: new Date(), appliedAt: new Date(), attempt: 1 },
  });
  await h.store.patients.insertMany([doc(301, 3), doc(401, 4)] as never[]);
});
afterAll(() => h.close());

// The collection's name is part of the documented contract (docs/operations.md, "Access audit").
const audit = () => h.store.db.collection<AccessEntry>('access_audit');
const get = (id: number, remoteAddress: string, headers: Record<string, string> = bearer(writer)) =>
  h.app.inject({ method: 'GET', url: `/api/patients/${id}`, headers: { ...headers, 'x-forwarded-for': '203.0.113.7' }, remoteAddress });

describe('read audit', () => {
  it('when a key reads its patient, another center\'s and a missing one, then each read is recorded with its outcome and the client address', async () => {
    const answers = [await get(301, PROXY), await get(401, PROXY), await get(999, '10.0.0.2')];
    expect(answers.map((r) => r.statusCode)).toEqual([200, 404, 404]);
    const entries = await audit().find({ action: 'patient.read' }, { projection: { _id: 0, at: 0 } }).toArray();
    expect(entries).toEqual([
      { action: 'patient.read', keyId: 'center-3-writer', patientId: 301, outcome: 'returned', clientAddress: '203.0.113.7', requestId: expect.any(String) },
      // Center 4's 401 is stored as "4:401", outside this key's centers: for it, not there at all.
      { action: 'patient.read', keyId: 'center-3-writer', patientId: 401, outcome: 'not-found', clientAddress: '203.0.113.7', requestId: expect.any(String) },
      // Not from the trusted proxy: its X-Forwarded-For is not believed.
      { action: 'patient.read', keyId: 'center-3-writer', patientId: 999, outcome: 'not-found', clientAddress: '10.0.0.2', requestId: expect.any(String) },
    ]);
    expect(JSON.stringify(await audit().find({}).toArray())).not.toContain(CANARY);
  });

  it('when `Prefer: wait` returns the stored record, then that read is recorded too', async () => {
    h.startWorker();
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', payload: { ...SEED_SAMPLE, id: 302, fullname: CANARY }, headers: { ...bearer(writer), prefer: 'wait=10' } });
    expect(res.statusCode).toBe(201);
    expect(await audit().findOne({ action: 'patient.read-after-write' }, { projection: { _id: 0, at: 0, requestId: 0 } })).toEqual({
      action: 'patient.read-after-write', keyId: 'center-3-writer', patientId: 302, outcome: 'returned', clientAddress: '127.0.0.1',
    });
    await h.stopWorker();
  });

  it('when a request fails authentication, then a log line records the client address and not the key', async () => {
    const res = await get(301, PROXY, { authorization: `Bearer hk_${CANARY}` });
    expect(res.statusCode).toBe(401);
    const line = h.apiLogs.lines().find((l) => l.msg === 'authentication failed');
    expect(line).toMatchObject({ clientAddress: '203.0.113.7', code: 'KEY_INVALID' });
    expect(h.apiLogs.lines().find((l) => l.msg === 'request' && l.status === 401)).toMatchObject({ clientAddress: '203.0.113.7' });
    expect(h.apiLogs.text()).not.toContain(CANARY);
  });
});

describe('operator audit', () => {
  it('when an operator replays a dead letter, then the new job is submitted as the operator and the replay is recorded', async () => {
    const record = { patient: { ...SEED_SAMPLE, id: 303 }, receivedAt: Date.now(), submittedBy: 'center-3-writer', tenant: { centers: [3], clusters: [] } };
    const job = await h.queue.add('patient.batch', { records: [record] });
    await job.remove();
    const letterId = `${h.config.QUEUE_NAME}:${job.id}-0`;
    await h.store.deadLetters.insertOne({
      _id: letterId, queue: h.config.QUEUE_NAME, jobId: `${job.id}-0`, patientId: 303, data: record, errorCode: 'DB_UNAVAILABLE',
      errorMessage: 'test', attempts: 10, receivedAt: new Date(), failedAt: new Date(),
    });
    const env = { REDIS_URL: h.config.REDIS_URL, MONGO_URL: h.config.MONGO_URL, MONGO_DB: h.config.MONGO_DB, QUEUE_NAME: h.config.QUEUE_NAME };
    const lines: string[] = [];
    const code = await runDeadLetterCommand(['replay', '--operator', 'alice', letterId], env, (l) => lines.push(l), (l) => lines.push(l));
    expect(code, lines.join('')).toBe(0);
    const replayJobId = (await h.store.deadLetters.findOne({ _id: letterId }))!.replayJobId!;
    expect((await h.queue.getJob(replayJobId.replace(/-\d+$/, '')))!.data.records[0]).toMatchObject({ submittedBy: 'operator:alice', tenant: { centers: [3] } });
    expect(await audit().findOne({ action: 'dead-letter.replay' }, { projection: { _id: 0, at: 0 } })).toEqual({
      action: 'dead-letter.replay', keyId: 'operator:alice', patientId: 303, outcome: 'replayed', clientAddress: null, letterId, jobId: replayJobId,
    });
  });
});
