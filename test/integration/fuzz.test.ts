import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATIENT_FIELD_NAMES, SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';

// Issue 3: whatever arrives at POST /api/patients, the API answers: never a 5xx, never a crash,
// and every 4xx is problem+json whose `status` is the HTTP status. API and real queue only.

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

type Request = { contentType: string | undefined; payload: string | Buffer; idempotencyKey?: string };

/** Counterexamples print short: a 200 kB payload in a failure message helps nobody. */
const request = (r: Request): Request =>
  Object.assign(r, {
    [fc.toStringMethod]: () => {
      const text = typeof r.payload === 'string' ? r.payload : `<${r.payload.length} bytes> ${r.payload.toString('hex')}`;
      const shown = text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text;
      return `POST ${JSON.stringify(r.contentType)} key=${JSON.stringify(r.idempotencyKey)} ${JSON.stringify(shown)}`;
    },
  });

const unhandled = () => h.apiLogs.lines().filter((l) => l.msg === 'unhandled error').map((l) => l.err);

async function expectWellFormedAnswer({ contentType, payload, idempotencyKey }: Request) {
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['content-type'] = contentType;
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const unhandledBefore = unhandled().length;
  const res = await h.app.inject({ method: 'POST', url: '/api/patients', headers, payload });
  expect(res.statusCode, res.body).toBeLessThan(500);
  // Answered, and not by the last-resort handler: no request may reach it, whatever it carries.
  expect(unhandled().slice(unhandledBefore)).toEqual([]);
  if (res.statusCode >= 400) {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: res.statusCode, title: expect.any(String), type: expect.any(String) });
  } else {
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ status: 'queued', jobId: expect.any(String) });
  }
}

const ACCEPTED_TYPES = ['application/json', 'text/json', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8'];
const OTHER_TYPES = ['text/plain', 'application/xml', 'application/x-ndjson', 'multipart/form-data', 'application/JSON', 'Application/Json; Charset=UTF-16',
  'application/json; charset=latin1', 'application/json;;;', 'application/json; boundary="', '*/*', 'application/*', '', ' ', 'json', 'application/merge-patch+json'];
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const contentType = fc.oneof(
  { arbitrary: fc.constantFrom(...ACCEPTED_TYPES), weight: 6 },
  { arbitrary: fc.constantFrom<string | undefined>(...OTHER_TYPES, undefined), weight: 2 },
  { arbitrary: printable, weight: 1 },
);

/** Values just beside the rules: range edges, number oddities, almost-dates, hostile text. */
const nearMissValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    -2147483649, -2147483648, 2147483647, 2147483648, -129, -128, 127, 128, 0, -0, 1.5, -0.5, 1e20, 1e308, -1e308, 5e-324,
    Number.MAX_SAFE_INTEGER + 2, '2147483648', '-2147483649', ' 12 ', '+5', '-0', '12abc', '1e3', '0x1F', '١٢', '１２', '', '   ', true, false, null,
    [], {}, [1], { $gt: 0 }, { $date: '2025-01-01T00:00:00Z' }, '0001-01-01T00:00:00', '2025-02-30', '2023-02-29', '2025-10-31T24:00:00',
    '2025-10-31T19:55:09+15:00', '2025-10-31T19:55:09+14:01', '2025-10-31T19:55:09.12345678', '9999-12-31T23:59:59-14:00', '0001-01-01T00:00:00+14:00',
    '2025-03-09T02:30:00', '2025-10-31T19:55', 'x'.repeat(255), 'x'.repeat(256), 'a\rb', 'a\r\nb', '\u0000', '\u001b[31m', '\u0085', '\ud800', '\udfff',
    '🏥'.repeat(128), '\u202egnp.exe', '$set', '{"$ne":null}', '__proto__',
  ),
  fc.integer({ min: -(2 ** 33), max: 2 ** 33 }),
  fc.double(),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((n) => n.toString()),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '+07:00').replace(/\.(\d+)/, '.$10000')),
  fc.jsonValue({ maxDepth: 3 }),
);

const anyCase = (name: string) =>
  fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
const extraKey = fc.oneof(
  fc.constantFrom(...PATIENT_FIELD_NAMES).chain(anyCase),
  fc.constantFrom('$set', '$where', 'a.b', 'fullname.$', '__proto__', 'constructor', 'prototype', 'toString', '_id', '_ingest', ''),
  fc.string({ maxLength: 20 }),
);

/** The seed sample with some fields dropped or swapped for near misses, plus unknown or repeated keys. */
const nearMissPatient = fc
  .tuple(
    fc.record(
      Object.fromEntries(
        PATIENT_FIELD_NAMES.map((f) => [f, fc.oneof({ arbitrary: fc.constant<unknown>(SEED_SAMPLE[f]), weight: 5 }, { arbitrary: nearMissValue, weight: 1 })]),
      ) as Record<string, fc.Arbitrary<unknown>>,
      { requiredKeys: [] },
    ),
    fc.dictionary(extraKey, nearMissValue, { maxKeys: 4 }),
  )
  .map(([fields, extra]) => ({ ...fields, ...extra }));

const asForm = (body: Record<string, unknown>) =>
  new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : (JSON.stringify(v) ?? '')])).toString();

const serialized = (body: Record<string, unknown>) =>
  fc.constantFrom(...ACCEPTED_TYPES).map((type) => request({ contentType: type, payload: type.includes('form') ? asForm(body) : JSON.stringify(body) }));

/** Texts that are not what they claim to be. */
const brokenText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', ' ', 'null', 'NaN', 'Infinity', '{', '}', '{"id":}', "{'id':1}", '{"id":1,}', '{"id":1}{"id":2}', '{"id":1} trailing',
    '\ufeff{"id":1}', '{"id":1e400}', '{"id":-1e400}', '{"id":' + '9'.repeat(400) + '}', '{"id":0.' + '0'.repeat(400) + '1}', '{"id":"\\ud800"}',
    '{"id":1,"fullname":"\\u0000"}', '%', 'id=%zz', 'id=%E0%A4%A', 'id=1&id=2&ID=3', '=&=&&', 'a[b][c]=1', 'id[]=1', '__proto__[id]=1&id=1',
    'constructor[prototype][x]=1&id=1'),
  fc.jsonValue().map((v) => JSON.stringify(v)).map((s) => s.slice(0, Math.max(0, s.length - 1))),
);

/** Deep nesting where only a few bytes are expected, in known and unknown fields. */
const deepBody = fc.tuple(fc.integer({ min: 1, max: 40_000 }), fc.constantFrom('fullname', 'unknown_extra', 'id', '__proto__', 'constructor'), fc.boolean()).map(
  ([depth, key, arrays]) => {
    const nested = arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return `{"id":5,"${key}":${nested}}`;
  },
);

// Hundreds of requests per property: 4-10 s on a loaded 2-core run, so each has room beyond the default 30 s.
describe('POST /api/patients under random and adversarial input', () => {
  it('when near-miss patient records arrive in every accepted format, then each answer is 202 or a 4xx problem', { timeout: 120_000 }, async () => {
    await fc.assert(fc.asyncProperty(nearMissPatient.chain(serialized), expectWellFormedAnswer), { numRuns: 1000 });
  });

  it('when random JSON values arrive, then each answer is a 4xx problem or 202', { timeout: 120_000 }, async () => {
    const requests = fc.tuple(fc.jsonValue({ maxDepth: 4 }), contentType).map(([v, type]) => request({ contentType: type, payload: JSON.stringify(v) }));
    await fc.assert(fc.asyncProperty(requests, expectWellFormedAnswer), { numRuns: 500 });
  });

  it('when broken text or random bytes arrive under any content type, then each answer is a 4xx problem or 202', { timeout: 120_000 }, async () => {
    const requests = fc.oneof(
      fc.tuple(brokenText, contentType).map(([payload, type]) => request({ contentType: type, payload })),
      fc.tuple(fc.uint8Array({ maxLength: 300 }), contentType).map(([bytes, type]) => request({ contentType: type, payload: Buffer.from(bytes) })),
    );
    await fc.assert(fc.asyncProperty(requests, expectWellFormedAnswer), { numRuns: 700 });
  });

  it('when bodies are nested tens of thousands of levels deep, then each answer is a 4xx problem or 202', { timeout: 120_000 }, async () => {
    const requests = fc.tuple(deepBody, fc.constantFrom('application/json', 'text/json')).map(([payload, type]) => request({ contentType: type, payload }));
    await fc.assert(fc.asyncProperty(requests, expectWellFormedAnswer), { numRuns: 60 });
  });

  it('when an Idempotency-Key comes with any patient-like body, then each answer is still 202 or a 4xx problem', { timeout: 120_000 }, async () => {
    const key = fc.oneof(fc.constantFrom('k-1', 'k-2', 'x'.repeat(255), 'x'.repeat(256), ' ', 'ключ'), printable);
    const requests = fc.tuple(nearMissPatient.chain(serialized), key).map(([req, idempotencyKey]) => request({ ...req, idempotencyKey }));
    await fc.assert(fc.asyncProperty(requests, expectWellFormedAnswer), { numRuns: 300 });
  });

  it('when an Idempotency-Key comes with a valid patient carrying a deeply nested unknown property, then the answer is 202', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await expectWellFormedAnswer(request({ contentType: 'application/json', payload: `{"id":5,"unknown_extra":${deep}}`, idempotencyKey: 'deep-1' }));
  });

  it('when the fuzzing is over, then the API still takes the seed sample', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/patients', payload: SEED_SAMPLE });
    expect(res.statusCode).toBe(202);
    expect(unhandled()).toEqual([]);
  });
});
