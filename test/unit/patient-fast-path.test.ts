import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PATIENT_FIELD_NAMES, SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createFastPath } from '../../src/shared/patient/patient-fast-path.ts';
import { createPatientSchema, toFieldIssues } from '../../src/shared/patient/patient-schema.ts';

// The fast path must never disagree with the zod contract: whenever it answers, zod answers the
// same record; when the input is anything but plain, it declines (and zod judges).

const rules = { timeZone: 'Asia/Bangkok', maxStringLength: 255 };
const schema = createPatientSchema(rules);
const fast = createFastPath(rules);
const zodParse = (input: unknown) => {
  const r = schema.safeParse(input);
  return r.success ? r.data : { issues: toFieldIssues(r.error) };
};

const fieldValue = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -3_000_000_000, max: 3_000_000_000 }),
  fc.integer({ min: -200, max: 200 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 0, 1, 127, 128, -128, -129, 2147483647, 2147483648),
  fc.string({ maxLength: 300 }),
  fc.constantFrom('', ' 12 ', '12', '-0', 'a\u0000b', 'x\r', 'x\r\n', '\ud800', '🏥'.repeat(128), 'x'.repeat(256)),
  fc.constantFrom('2025-10-31T19:55:09.1383551+07:00', '2025-10-31', '0001-01-01T00:00:00', '2025-02-30T00:00:00', '2025-10-31T19:55:09Z', '2025-10-31T19:55:09+15:00', 'not a date'),
  fc.boolean(),
  fc.constant(undefined),
);
const key = fc.oneof(fc.constantFrom(...PATIENT_FIELD_NAMES), fc.constantFrom(...PATIENT_FIELD_NAMES).map((k) => k.toUpperCase()), fc.string({ maxLength: 8 }));

describe('the fast path of the patient contract', () => {
  it('when it answers a random record, then zod answers the same record', () => {
    fc.assert(
      fc.property(fc.dictionary(key, fieldValue, { maxKeys: 30 }), (input) => {
        const answer = fast(input);
        if (answer !== undefined) expect(answer).toEqual(zodParse(input));
      }),
      { numRuns: 3000 },
    );
  });

  it('when it answers a mutated seed record, then zod answers the same record', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATIENT_FIELD_NAMES), fieldValue, fc.boolean(), (field, value, upper) => {
        const input: Record<string, unknown> = { ...SEED_SAMPLE };
        delete input[field];
        input[upper ? field.toUpperCase() : field] = value;
        const answer = fast(input);
        if (answer !== undefined) expect(answer).toEqual(zodParse(input));
      }),
      { numRuns: 3000 },
    );
  });

  it('when the intake rules are on (future modify_time, center clusters), then it still agrees with zod', () => {
    const intake = { ...rules, maxFutureMs: 86_400_000, centerClusters: new Map([[3, 2], [4, 2]]) };
    const strict = createPatientSchema(intake);
    const fastStrict = createFastPath(intake);
    const zodStrict = (input: unknown) => {
      const r = strict.safeParse(input);
      return r.success ? r.data : { issues: toFieldIssues(r.error) };
    };
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const late = new Date(Date.now() + 3 * 86_400_000).toISOString();
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 4, 5, null), fc.constantFrom(1, 2, 3, 4, null), fc.constantFrom(soon, late, SEED_SAMPLE.modify_time), (cluster, center, modify) => {
        const input = { ...SEED_SAMPLE, cluster_id: cluster, center_id: center, modify_time: modify };
        const answer = fastStrict(input);
        if (answer !== undefined) expect(answer).toEqual(zodStrict(input));
        else expect(zodStrict(input)).toHaveProperty('issues');
      }),
      { numRuns: 200 },
    );
  });

  it('when the seed sample is given, then it answers (the common case takes the fast path)', () => {
    expect(fast(SEED_SAMPLE)).toEqual(zodParse(SEED_SAMPLE));
    expect(fast({ ...SEED_SAMPLE, extra: 'ignored', $set: { a: 1 } })).toEqual(zodParse(SEED_SAMPLE));
  });

  it('when a value needs the full contract, then it declines', () => {
    for (const input of [{ ...SEED_SAMPLE, id: '12' }, { ...SEED_SAMPLE, isactive: 128 }, { ...SEED_SAMPLE, Id: 2 }, { ...SEED_SAMPLE, hn: '' , create_time: '' }, { ...SEED_SAMPLE, id: 0 }, [], null]) {
      expect(fast(input)).toBeUndefined();
    }
  });
});
