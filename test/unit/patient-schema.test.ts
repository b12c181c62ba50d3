import { describe, expect, it } from 'vitest';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES, SEED_SAMPLE, type FieldKind, type PatientField } from '../../src/shared/patient/patient-fields.ts';
import { createPatientSchema, parsePatient, type FieldIssue } from '../../src/shared/patient/patient-schema.ts';

// Issue 3, the contract: every rule, every boundary, every field.

const schema = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });

const fieldsOf = (kind: FieldKind) =>
  PATIENT_FIELD_NAMES.filter((f): f is Exclude<PatientField, 'id'> => f !== 'id' && PATIENT_FIELDS[f] === kind);
const INTEGER_FIELDS = fieldsOf('integer');
const BYTE_FIELDS = fieldsOf('signedByte');
const DATE_FIELDS = fieldsOf('date');
const STRING_FIELDS = fieldsOf('string');

function accepted(body: unknown, s = schema) {
  const result = parsePatient(s, body);
  if (!result.ok) throw new Error(`expected valid, got ${JSON.stringify(result.issues)}`);
  return result.patient as Record<string, unknown>;
}

function rejected(body: unknown, s = schema): FieldIssue[] {
  const result = parsePatient(s, body);
  if (result.ok) throw new Error('expected invalid, got a patient');
  return result.issues;
}

const byFieldOrder = (a: string, b: string) => PATIENT_FIELD_NAMES.indexOf(a as PatientField) - PATIENT_FIELD_NAMES.indexOf(b as PatientField);

/** A body with `value` in every one of `fields`. */
const every = (fields: readonly string[], value: unknown) => ({ id: 1, ...Object.fromEntries(fields.map((f) => [f, value])) });

describe('integers and signed bytes', () => {
  const INT = { min: -2147483648, max: 2147483647 };
  const BYTE = { min: -128, max: 127 };

  it.each([
    ['integer', INTEGER_FIELDS, INT],
    ['signed byte', BYTE_FIELDS, BYTE],
  ] as const)('when every %s field holds each in-range edge, as a number and as a string, then it is stored as that number', (_kind, fields, { min, max }) => {
    for (const n of [min, min + 1, -1, 0, 1, max - 1, max]) {
      for (const value of [n, String(n)]) {
        const patient = accepted(every(fields, value));
        for (const f of fields) expect(patient[f], `${f} = ${JSON.stringify(value)}`).toBe(n);
      }
    }
  });

  it.each([
    ['integer', INTEGER_FIELDS, INT],
    ['signed byte', BYTE_FIELDS, BYTE],
  ] as const)('when every %s field is one past an edge, as a number and as a string, then each field is named with its range', (_kind, fields, { min, max }) => {
    for (const value of [min - 1, max + 1, String(min - 1), String(max + 1), 1e20, '99999999999999999999', -1e20]) {
      const issues = rejected(every(fields, value));
      expect(issues, JSON.stringify(value)).toEqual(fields.map((path) => ({ path, message: `is out of range: must be an integer from ${min} to ${max}` })));
    }
  });

  it.each([
    [' 12 ', 12],
    ['\t12\r\n', 12],
    ['+12', 12],
    ['-12', -12],
    ['007', 7],
    ['-0', 0],
    [-0, 0],
    [12.0, 12],
    [1e2, 100],
    ['0100', 100],
    ['', null],
    ['   ', null],
    [null, null],
    [undefined, null],
  ])('when an integer field holds %j, then it is %j', (value, expected) => {
    for (const f of [...INTEGER_FIELDS, ...BYTE_FIELDS]) {
      const patient = accepted({ id: 1, [f]: value });
      expect(patient[f]).toBe(expected);
      if (expected === 0) expect(Object.is(patient[f], -0), 'no -0: BSON would store a double').toBe(false);
    }
  });

  it.each([1.5, -0.5, 127.0000001, '1.5', '1,000', '12abc', 'abc', '1e3', '0x10', '1_000', '٣', '１２', '\u00a012', '--1', '+-1', true, false, [], [1], {}, { value: 1 }])(
    'when an integer field holds %j, then it is an error for that field',
    (value) => {
      const issues = rejected(every([...INTEGER_FIELDS, ...BYTE_FIELDS], value));
      expect(issues.map((i) => i.path)).toEqual([...INTEGER_FIELDS, ...BYTE_FIELDS].sort(byFieldOrder));
      for (const issue of issues) expect(issue.message).toMatch(/must be an integer from -?\d+ to \d+/);
    },
  );

  it('when a fraction is given, then the message says fractions are not allowed', () => {
    expect(rejected({ id: 1, total_hd: 1.5 })).toEqual([{ path: 'total_hd', message: 'must be an integer from -2147483648 to 2147483647; fractions are not allowed' }]);
  });
});

describe('id', () => {
  it.each([
    [1, 1],
    ['1', 1],
    [2147483647, 2147483647],
    ['2147483647', 2147483647],
    [' 42 ', 42],
  ])('when id is %j, then the patient key is %j', (value, expected) => {
    expect(accepted({ id: value }).id).toBe(expected);
  });

  it.each([0, -1, -0, '0', '-1', 2147483648, '2147483648', -2147483648, '-2147483648'])('when id is %j, then it is out of range 1..2147483647', (value) => {
    expect(rejected({ id: value })).toEqual([{ path: 'id', message: 'is out of range: must be an integer from 1 to 2147483647' }]);
  });

  it.each([{}, { id: null }, { id: '' }, { id: '  ' }, { fullname: 'x' }])('when the body is %j, then id is reported as required', (body) => {
    expect(rejected(body)).toEqual([{ path: 'id', message: expect.stringMatching(/^is required/) }]);
  });

  it.each([1.5, '1.5', 'abc', true, [1], { id: 1 }])('when id is %j, then it is an error that is not "required"', (value) => {
    const [issue, ...rest] = rejected({ id: value });
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ path: 'id', message: expect.stringMatching(/^must be an integer from 1 to 2147483647/) });
  });
});

describe('dates', () => {
  it.each([
    ['2025-10-31T19:55:09.1383551+07:00', '2025-10-31T12:55:09.138Z'],
    ['2025-10-31T19:55:09.1383551', '2025-10-31T12:55:09.138Z'],
    ['2025-10-31T19:55:09Z', '2025-10-31T19:55:09.000Z'],
    ['2025-10-31', '2025-10-30T17:00:00.000Z'],
  ])('when every date field holds %s, then each is the instant %s', (value, iso) => {
    const patient = accepted(every(DATE_FIELDS, value));
    for (const f of DATE_FIELDS) expect((patient[f] as Date).toISOString()).toBe(iso);
  });

  it.each([null, '', '0001-01-01T00:00:00', '0001-01-01T00:00:00.0000000'])('when every date field holds %j, then each is null', (value) => {
    const patient = accepted(every(DATE_FIELDS, value));
    for (const f of DATE_FIELDS) expect(patient[f]).toBeNull();
  });

  it.each([
    ['2025-02-30', 'is not a real calendar date or time'],
    ['2023-02-29T10:00:00', 'is not a real calendar date or time'],
    ['2025-10-31T24:00:00', 'is not a real calendar date or time'],
    ['2025-10-31T19:55:09+15:00', 'has a UTC offset outside -14:00 to +14:00'],
    ['9999-12-31T23:59:59-01:00', 'is outside the supported range (years 0001 to 9999 in UTC)'],
    ['2025-10-31 19:55', 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00'],
    [1761915309138, 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00'],
    [true, 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00'],
    [{ $date: '2025-10-31T00:00:00Z' }, 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00'],
  ])('when every date field holds %j, then each is reported: %s', (value, message) => {
    expect(rejected(every(DATE_FIELDS, value))).toEqual(DATE_FIELDS.map((path) => ({ path, message })));
  });

  it('when a local time was skipped by a clock change in the configured zone, then it is reported', () => {
    const ny = createPatientSchema({ timeZone: 'America/New_York', maxStringLength: 255 });
    expect(rejected({ id: 1, modify_time: '2025-03-09T02:30:00' }, ny)).toEqual([{ path: 'modify_time', message: expect.stringMatching(/does not exist in the configured time zone/) }]);
    expect((accepted({ id: 1, modify_time: '2025-03-09T03:30:00' }, ny).modify_time as Date).toISOString()).toBe('2025-03-09T07:30:00.000Z');
  });
});

describe('strings', () => {
  it.each([
    ['', ''],
    ['x'.repeat(255), 'x'.repeat(255)],
    ['ก'.repeat(255), 'ก'.repeat(255)],
    ['tab\there', 'tab\there'],
    ['line\nfeed', 'line\nfeed'],
    ['crlf\r\nline', 'crlf\r\nline'],
    ['ends with CRLF\r\n', 'ends with CRLF\r\n'],
    ['  spaces kept  ', '  spaces kept  '],
    ['nbsp\u00a0and\u2028separator', 'nbsp\u00a0and\u2028separator'],
    ['emoji 🏥 and สมชาย', 'emoji 🏥 and สมชาย'],
    ['$set a.b __proto__ {"$gt":""}', '$set a.b __proto__ {"$gt":""}'],
    [12, '12'],
    [null, null],
    [undefined, null],
  ])('when every string field holds %j, then each is %j', (value, expected) => {
    const patient = accepted(every(STRING_FIELDS, value));
    for (const f of STRING_FIELDS) expect(patient[f]).toBe(expected);
  });

  it.each([
    ['x'.repeat(256), 'must be at most 255 characters long (UTF-16 code units, as .NET counts)'],
    ['🏥'.repeat(128), 'must be at most 255 characters long (UTF-16 code units, as .NET counts)'], // 256 UTF-16 units, as .NET counts
    ...['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u000e', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f', '\r', 'a\rb', 'a\n\rb', 'end\r'].map(
      (bad) => [`before${bad}after`, 'must not contain control characters (tab, line feed and CRLF are allowed)'] as const,
    ),
    ['lone \ud800 surrogate', 'must be valid Unicode text (no lone surrogates)'],
    ['lone \udc00 surrogate', 'must be valid Unicode text (no lone surrogates)'],
    [true, 'must be a string'],
    [['a'], 'must be a string'],
    [{ a: 1 }, 'must be a string'],
  ] as [unknown, string][])('when every string field holds %j, then each is reported: %s', (value, message) => {
    expect(rejected(every(STRING_FIELDS, value))).toEqual(STRING_FIELDS.map((path) => ({ path, message })));
  });

  it.each([1, 5, 1000])('when the configured maximum is %i, then that length passes and one more fails', (max) => {
    const s = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: max });
    expect(accepted({ id: 1, hn: 'h'.repeat(max) }, s).hn).toBe('h'.repeat(max));
    expect(rejected({ id: 1, hn: 'h'.repeat(max + 1) }, s)).toEqual([{ path: 'hn', message: `must be at most ${max} characters long (UTF-16 code units, as .NET counts)` }]);
  });
});

describe('binding property names', () => {
  it('when every field is null except id, then the patient has every field, all null', () => {
    const patient = accepted(every(PATIENT_FIELD_NAMES.filter((f) => f !== 'id'), null));
    expect(Object.keys(patient)).toEqual(PATIENT_FIELD_NAMES);
    for (const f of PATIENT_FIELD_NAMES) if (f !== 'id') expect(patient[f]).toBeNull();
  });

  it('when names arrive in other letter cases, then they bind to the fields', () => {
    const patient = accepted({ ID: 7, FullName: 'A', HN: 'B', Create_Time: '2025-10-31', ISACTIVE: '1', Record_Status_ID: 2 });
    expect(patient).toMatchObject({ id: 7, fullname: 'A', hn: 'B', isactive: 1, record_status_id: 2 });
    expect((patient.create_time as Date).toISOString()).toBe('2025-10-30T17:00:00.000Z');
  });

  it.each([
    [{ id: 1, ID: 2 }, ['id']],
    [{ id: 1, fullname: 'a', FullName: 'a' }, ['fullname']],
    [{ id: 1, hn: 'a', HN: 'b', Hn: 'c', trt_cn: 'x', TRT_CN: null }, ['hn', 'trt_cn']],
  ])('when a field is given twice in different case (%j), then it is an error naming it', (body, paths) => {
    expect(rejected(body)).toEqual(paths.map((path) => ({ path, message: 'is given more than once (names are case-insensitive)' })));
  });

  it('when names look like fields but are not (Turkish İ, spaces, hyphens), then they are not bound', () => {
    expect(rejected({ 'İD': 1, ' id': 1, 'id ': 1, 'i-d': 1 })).toEqual([{ path: 'id', message: expect.stringMatching(/^is required/) }]);
  });

  it('when unknown, operator, dotted and prototype-like keys are sent, then they are ignored and never in the output', () => {
    const body = JSON.parse(
      '{"id":1,"fullname":"x","$set":{"id":2},"a.b":1,"hn.$":"y","__proto__":{"polluted":true,"id":3},"constructor":{"prototype":{"polluted":true}},' +
        '"prototype":1,"toString":"s","hasOwnProperty":1,"valueOf":2,"_id":99,"_ingest":{"version":"z"},"extra":"e"}',
    ) as unknown;
    const patient = accepted(body);
    expect(Object.keys(patient)).toEqual(PATIENT_FIELD_NAMES);
    expect(patient).toMatchObject({ id: 1, fullname: 'x' });
    expect(Object.getPrototypeOf(patient)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(patient.toString).toBe(Object.prototype.toString);
  });

  it('when the seed sample is posted as form strings, then it binds to the same patient as the JSON sample', () => {
    const form = Object.fromEntries(Object.entries(SEED_SAMPLE).map(([k, v]) => [k, String(v)]));
    expect(accepted(form)).toEqual(accepted(SEED_SAMPLE));
  });

  it('when the seed sample is parsed, then every value is as the help page means it', () => {
    expect(accepted(SEED_SAMPLE)).toEqual({
      ...SEED_SAMPLE,
      create_time: new Date('2025-10-31T12:55:09.138Z'),
      modify_time: new Date('2025-10-31T12:55:09.138Z'),
      followup_date: new Date('2025-10-31T12:55:09.153Z'),
    });
  });

  it.each([null, [], [{ id: 1 }], 'a string', 42, true])('when the body is %j, then the one issue is that it must be an object', (body) => {
    expect(rejected(body)).toEqual([{ path: '(body)', message: 'the patient must be a JSON object' }]);
  });
});

describe('reporting', () => {
  const CANARY = 'CANARY-7f3a91';
  const CANARY_NUMBER = 98765432109;

  it('when every field is invalid, then every field is reported once, in field order', () => {
    const body = {
      ...every(INTEGER_FIELDS, '12abc'),
      ...every(BYTE_FIELDS, 128),
      ...every(DATE_FIELDS, '2025-02-30'),
      ...every(STRING_FIELDS, 'bad\u0000'),
      id: 0,
    };
    expect(rejected(body).map((i) => i.path)).toEqual(PATIENT_FIELD_NAMES);
  });

  it('when a field is duplicated and others are invalid, then all are reported together', () => {
    const paths = rejected({ id: 1, ID: 1, hn: 'x'.repeat(300), isactive: 500 }).map((i) => i.path);
    expect(paths.sort()).toEqual(['hn', 'id', 'isactive']);
  });

  it.each([
    ['as unparseable text', CANARY],
    ['with a control character', `${CANARY}\u0001`],
    ['too long', CANARY.repeat(40)],
    ['as a huge number', CANARY_NUMBER],
    ['as a digit string', String(CANARY_NUMBER)],
    ['inside an object', { [CANARY]: CANARY }],
  ])('when a unique value is sent %s in every field, then no message contains it', (_how, value) => {
    const body = { ...every(PATIENT_FIELD_NAMES, value), [`${CANARY}-key`]: value, [CANARY.toUpperCase()]: value };
    const issues = rejected(body);
    expect(issues.length).toBeGreaterThan(0);
    const text = JSON.stringify(issues);
    expect(text).not.toContain(CANARY);
    expect(text.toLowerCase()).not.toContain(CANARY.toLowerCase());
    expect(text).not.toContain(String(CANARY_NUMBER));
  });
});

describe('createPatientSchema', () => {
  it('when the time zone is unknown or the string maximum is not positive, then it throws at once', () => {
    expect(() => createPatientSchema({ timeZone: 'Mars/Olympus', maxStringLength: 255 })).toThrow(RangeError);
    expect(() => createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 0 })).toThrow(RangeError);
  });
});
