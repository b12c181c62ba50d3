import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { idempotencySecretProblem } from '../../src/api/idempotency-secret.ts';
import { intakeRules } from '../../src/api/intake/intake-rules.ts';
import { loadConfig } from '../../src/shared/config/config.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createPatientSchema, parsePatient, toJobPatient } from '../../src/shared/patient/patient-schema.ts';
import { createRedis, type RedisClient } from '../../src/shared/redis.ts';
import { captureLogger, createHarness, type Harness } from '../support/harness.ts';

// The idempotency store keeps, per key, a digest of the record for API_IDEMPOTENCY_TTL_S (24 h):
// an HMAC under API_IDEMPOTENCY_SECRET, not a plain SHA-256 a reader of Redis could test a guessed
// record against (issue 22). Two API replicas with the same secret share it through Redis.
const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
const patient = { ...SEED_SAMPLE, id: 4711, fullname: 'Malee Guessable' };

let h: Harness;
let redis: RedisClient; // the replicas' connection, and the test's look into the store
beforeAll(async () => {
  h = await createHarness({ API_IDEMPOTENCY_SECRET: SECRET });
  redis = createRedis(h.config.REDIS_URL, 'producer');
});
afterAll(async () => {
  redis.disconnect();
  await h.close();
});

const post = (app: Harness['app'], body: unknown, key: string) =>
  app.inject({ method: 'POST', url: '/api/patients', payload: body as object, headers: { 'idempotency-key': key } });
const stored = async (key: string) => {
  const redisKey = `${h.config.QUEUE_PREFIX}:${h.config.QUEUE_NAME}:idem:${createHash('sha256').update(`dev\n${key}`).digest('hex')}`;
  return JSON.parse((await redis.get(redisKey)) ?? 'null') as Record<string, unknown> | null;
};
/** What the store digests: the record as the intake normalized it. */
const normalized = (body: unknown) => {
  const parsed = parsePatient(createPatientSchema(intakeRules(h.config)), body);
  if (!parsed.ok) throw new Error('test record invalid');
  return JSON.stringify(toJobPatient(parsed.patient));
};

describe('the idempotency store', () => {
  it('when a record is posted with an Idempotency-Key, then Redis holds an HMAC of it under the secret, not its plain SHA-256', async () => {
    expect((await post(h.app, patient, 'secret-1')).statusCode).toBe(202);
    const entry = await stored('secret-1');
    const text = normalized(patient);
    expect(entry).toMatchObject({ mac: createHmac('sha256', SECRET).update(text).digest('hex') });
    expect(JSON.stringify(entry)).not.toContain(createHash('sha256').update(text).digest('hex'));
    expect(JSON.stringify(entry)).not.toContain('Guessable');
  });

  it('when another API replica with the same secret gets the same body, then it replays; a different body with that key is still 422', async () => {
    const first = await post(h.app, patient, 'secret-2');
    const replica = await buildApp({ config: h.config, logger: captureLogger('api-2').logger, queues: h.queues, redis, store: h.store });
    try {
      const again = await post(replica, patient, 'secret-2');
      expect(again.statusCode).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
      const other = await post(replica, { ...patient, fullname: 'Someone Else' }, 'secret-2');
      expect(other.statusCode).toBe(422);
      expect(other.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    } finally {
      await replica.close();
    }
  });

  it('when a replica has another secret, then the same body does not match (422), and nothing is enqueued twice', async () => {
    await post(h.app, patient, 'secret-3');
    const config = { ...h.config, API_IDEMPOTENCY_SECRET: 'another-secret-0123456789-abcdefghijkl' };
    const replica = await buildApp({ config, logger: captureLogger('api-3').logger, queues: h.queues, redis, store: h.store });
    try {
      expect((await post(replica, patient, 'secret-3')).statusCode).toBe(422);
    } finally {
      await replica.close();
    }
  });

  it('when an entry was stored as a plain SHA-256 before this version, then a retry within its TTL still replays, and new entries never use it', async () => {
    const key = 'legacy-1';
    const redisKey = `${h.config.QUEUE_PREFIX}:${h.config.QUEUE_NAME}:idem:${createHash('sha256').update(`dev\n${key}`).digest('hex')}`;
    const answer = { status: 202, body: { jobId: '9', status: 'queued', statusUrl: '/api/patients/jobs/9' }, location: '/api/patients/jobs/9' };
    await redis.set(redisKey, JSON.stringify({ hash: createHash('sha256').update(normalized(patient)).digest('hex'), answer }), 'EX', 60);
    const again = await post(h.app, patient, key);
    expect([again.statusCode, again.json()]).toEqual([202, answer.body]);
    expect((await post(h.app, { ...patient, fullname: 'Someone Else' }, key)).statusCode).toBe(422);
  });

  it('when NODE_ENV=production and API_IDEMPOTENCY_SECRET is unset, then the API refuses to start; a short or spaced secret is refused by the configuration', () => {
    const env = { REDIS_URL: 'rediss://r:6380', MONGO_URL: 'mongodb://m:27017/?tls=true', NODE_ENV: 'production' };
    expect(idempotencySecretProblem(loadConfig(env))).toMatch(/API_IDEMPOTENCY_SECRET is required when NODE_ENV=production/);
    expect(idempotencySecretProblem(loadConfig({ ...env, API_IDEMPOTENCY_SECRET: SECRET }))).toBeUndefined();
    expect(idempotencySecretProblem(loadConfig({ ...env, NODE_ENV: 'development' }))).toBeUndefined();
    for (const bad of ['short', 'REPLACE WITH THE OUTPUT OF openssl rand -base64 32']) expect(() => loadConfig({ ...env, API_IDEMPOTENCY_SECRET: bad })).toThrow(/API_IDEMPOTENCY_SECRET must be 32-1024 characters without spaces/);
  });
});
