import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DATE_TEXT, integerText, positiveRange } from '../../src/api/openapi/wire-patterns.ts';
import { RANGES, SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createPatientSchema, parsePatient } from '../../src/shared/patient/patient-schema.ts';

// The document's patterns against the validator itself: a text the pattern takes must be taken by
// the contract, and one it refuses must be refused, or /docs/json lies to generated clients.

const schema = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });
const accepts = (field: string, value: unknown) => parsePatient(schema, { ...SEED_SAMPLE, [field]: value }).ok;
const WS = fc.constantFrom('', ' ', '\t', '\n\r', '\v\f ');

describe('the OpenAPI wire patterns', () => {
  it('when positiveRange is asked for 1..2147483647, then it matches exactly the canonical numbers in range', () => {
    const re = new RegExp(`^${positiveRange(1, RANGES.integer.max)}$`);
    for (const yes of ['1', '9', '10', '2147483647', '2147483639', '1999999999']) expect(re.test(yes), yes).toBe(true);
    for (const no of ['0', '01', '2147483648', '2147483650', '3000000000', '10000000000', '-1', '']) expect(re.test(no), no).toBe(false);
  });

  it('when a digit string is generated around the int32 and signed-byte bounds, then the pattern and the contract agree', () => {
    const cases: [string, number, number][] = [['order', RANGES.integer.min, RANGES.integer.max], ['isactive', RANGES.signedByte.min, RANGES.signedByte.max], ['id', 1, RANGES.integer.max]];
    for (const [field, min, max] of cases) {
      const re = new RegExp(integerText(min, max));
      fc.assert(
        fc.property(WS, fc.constantFrom('', '+', '-'), fc.constantFrom('', '0', '000'), fc.oneof(fc.bigInt({ min: -1n, max: 2n ** 33n }), fc.constantFrom(BigInt(max), BigInt(max) + 1n, BigInt(-min), BigInt(-min) + 1n, 0n)), WS, (pre, sign, zeros, n, post) => {
          if (n < 0n) return;
          const text = `${pre}${sign}${zeros}${n}${post}`;
          expect(re.test(text), `${field} ${JSON.stringify(text)}`).toBe(accepts(field, text));
        }),
        { numRuns: 400 },
      );
    }
  });

  it('when a date text is generated near calendar edges, then the pattern accepts only what the contract accepts', () => {
    const re = new RegExp(DATE_TEXT);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 9998 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.constantFrom('', 'T23:59:59', 'T24:00:00', 'T00:00:00.1234567Z', 'T12:00:00+14:00', 'T12:00:00-14:01', 'T12:00:60+07:00'), (y, m, d, time) => {
        const text = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}${time}`;
        expect(re.test(text), text).toBe(accepts('create_time', text));
      }),
      { numRuns: 600 },
    );
    for (const leap of ['2024-02-29', '2000-02-29', '0400-02-29']) expect(re.test(leap), leap).toBe(true);
    for (const notLeap of ['2023-02-29', '1900-02-29', '2100-02-29']) expect(re.test(notLeap), notLeap).toBe(false);
  });
});
