import { PATIENT_FIELD_NAMES, PATIENT_FIELDS, RANGES, SEED_SAMPLE, type FieldKind } from '../../shared/patient/patient-fields.ts';
import { BLANK_TEXT, BMP_TEXT, CONTROL_TEXT, DATE_TEXT, integerText } from './wire-patterns.ts';

// The request body schemas of POST /api/patients (JSON and form) as JSON Schema, written out rather
// than generated from zod: the validating schema (src/shared/patient/patient-schema.ts) binds values the way
// ASP.NET did (digit strings, empty form values, numbers for strings), which only explicit unions
// and patterns can describe. Unknown properties are accepted and ignored, so there is no
// `additionalProperties: false`.

type Json = Record<string, unknown>;

const DESCRIPTIONS: Record<FieldKind, string> = {
  integer: `32-bit integer (${RANGES.integer.min}..${RANGES.integer.max}); a JSON number or a string of digits`,
  signedByte: `signed byte (${RANGES.signedByte.min}..${RANGES.signedByte.max}); a JSON number or a string of digits`,
  date: 'ISO 8601 as .NET writes it: date only, or date-time with 0-7 fractional digits and Z, an offset, or none (then local time in the configured zone). 0001-01-01T00:00:00 (DateTime.MinValue) and the empty string mean no date.',
  string: 'no control characters but tab and newline (CRLF); a JSON number is taken as its text',
};

/** Text a form (or JSON string) may carry for a field of this kind. */
function textVariants(kind: FieldKind, maxLength: number): Json[] {
  if (kind === 'date') return [{ type: 'string', pattern: DATE_TEXT }];
  if (kind === 'string') {
    // At most maxLength UTF-16 units, as .NET counts: any text of up to half as many characters,
    // or a Basic-Multilingual-Plane text (one unit per character) of up to maxLength.
    return [
      { type: 'string', maxLength: Math.floor(maxLength / 2), not: { pattern: CONTROL_TEXT } },
      { type: 'string', maxLength, pattern: BMP_TEXT },
    ];
  }
  const { min, max } = RANGES[kind];
  return [{ type: 'string', pattern: integerText(min, max) }, { type: 'string', pattern: BLANK_TEXT }];
}

function jsonField(kind: FieldKind, maxLength: number): Json {
  const native: Json[] = kind === 'string' ? [{ type: 'number' }] : kind === 'date' ? [] : [{ type: 'integer', minimum: RANGES[kind].min, maximum: RANGES[kind].max }];
  return { description: `${DESCRIPTIONS[kind]}${kind === 'string' ? `; at most ${maxLength} UTF-16 units` : ''}`, anyOf: [...native, ...textVariants(kind, maxLength), { type: 'null' }] };
}

// A `__proto__` key, or a `constructor` holding a `prototype`, anywhere in the body is refused as
// prototype poisoning (400): unknown properties may hold any JSON but that.
const NOT_POISONED = {
  propertyNames: { not: { const: '__proto__' } },
  patternProperties: { '^constructor$': { $ref: '#/components/schemas/UnpoisonedJson', not: { type: 'object', required: ['prototype'] } } },
  additionalProperties: { $ref: '#/components/schemas/UnpoisonedJson' },
};
const UnpoisonedJson = {
  description: 'Any JSON value without a __proto__ key or a constructor.prototype path',
  ...NOT_POISONED,
  items: { $ref: '#/components/schemas/UnpoisonedJson' },
};

const ID_DESCRIPTION = 'the patient key, required: a positive 32-bit integer (a JSON number or a string of digits)';

/**
 * What JSON Schema cannot say of modify_time: how far ahead of the server's clock it may be. Said in
 * words and as `x-max-future-seconds`, for readers, generated clients and fuzzers.
 */
const futureBound = (maxFutureS: number): Json => ({
  description: `${DESCRIPTIONS.date} At most ${maxFutureS} s after the server's clock (PATIENT_MAX_FUTURE_S): a later one answers 400 at path modify_time, since newest wins and a future version would make every later update stale.`,
  'x-max-future-seconds': maxFutureS,
});

export function patientInputSchemas(maxLength: number, maxFutureS: number): Record<'PatientInput' | 'PatientForm' | 'UnpoisonedJson', Json> {
  const others = PATIENT_FIELD_NAMES.filter((f) => f !== 'id');
  const common = { type: 'object', required: ['id'] };
  const PatientInput = {
    ...common,
    ...NOT_POISONED,
    description: 'A patient record as the old ASP.NET endpoint accepted it. Property names are matched case-insensitively (the same name twice in two cases is an error); unknown properties are accepted and ignored.',
    properties: {
      id: { description: ID_DESCRIPTION, anyOf: [{ type: 'integer', minimum: 1, maximum: RANGES.integer.max }, { type: 'string', pattern: integerText(1, RANGES.integer.max) }] },
      ...Object.fromEntries(others.map((f) => [f, jsonField(PATIENT_FIELDS[f], maxLength)])),
      modify_time: { ...jsonField('date', maxLength), ...futureBound(maxFutureS) },
    },
    examples: [SEED_SAMPLE],
  };
  const PatientForm = {
    ...common,
    description: 'The same record as an HTML form posts it: every value is text; an empty value means no value (not allowed for id).',
    properties: {
      id: { description: ID_DESCRIPTION, type: 'string', pattern: integerText(1, RANGES.integer.max) },
      ...Object.fromEntries(others.map((f) => [f, { description: DESCRIPTIONS[PATIENT_FIELDS[f]], anyOf: textVariants(PATIENT_FIELDS[f], maxLength) }])),
      modify_time: { anyOf: textVariants('date', maxLength), ...futureBound(maxFutureS) },
    },
  };
  return { PatientInput, PatientForm, UnpoisonedJson };
}
