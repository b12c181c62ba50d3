import { z } from 'zod';
import { parseDotnetDate, type DateFailure } from './dotnet-date.ts';
import { RANGES, type FieldKind } from './patient-fields.ts';
import type { PatientRules } from './patient-rules.ts';

// One zod schema per field kind, with the .NET model binder's readings of text. Messages name the
// rule, never the value: they reach logs and job failure reasons.

// ASCII digits with an optional sign, and ASCII white space around them (as .NET's Int32.Parse).
const INT_TEXT = /^[\t\n\v\f\r ]*[-+]?[0-9]+[\t\n\v\f\r ]*$/;
const BLANK = /^[\t\n\v\f\r ]*$/;
// C0 and C1 control characters except tab and line feed; carriage return only right before a line feed.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|\r(?!\n)/;

/** ASP.NET model binding: digit strings are integers, an empty form value is "no value". */
export const integerText = (value: unknown) =>
  typeof value === 'string' ? (BLANK.test(value) ? null : INT_TEXT.test(value) ? Number(value) : value) : value;

/** -0 (from `-0` or `"-0"`) is 0: BSON would store -0 as a double, not an int. */
const noNegativeZero = (n: number) => (n === 0 ? 0 : n);

export const integerRule = (min: number, max: number) => `must be an integer from ${min} to ${max}`;

/** A number from min to max: one issue, out of range before fraction (1e20 is not "a fraction"). */
export function boundedInteger(min: number, max: number, typeError: z.core.$ZodErrorMap<z.core.$ZodIssueInvalidType> | string) {
  const rule = integerRule(min, max);
  return z.number({ error: typeError })
    .superRefine((n, ctx) => {
      if (n < min || n > max) ctx.addIssue({ code: 'custom', message: `is out of range: ${rule}` });
      else if (!Number.isInteger(n)) ctx.addIssue({ code: 'custom', message: `${rule}; fractions are not allowed` });
    })
    .transform(noNegativeZero);
}

function integer(min: number, max: number) {
  return z.preprocess(integerText, boundedInteger(min, max, `${integerRule(min, max)} (a JSON number or a string of digits)`).nullable());
}

const DATE_FORMAT = 'must be an ISO 8601 date or date-time such as 2025-10-31T19:55:09.1383551+07:00';
const DATE_MESSAGES: Record<DateFailure, string> = {
  format: DATE_FORMAT,
  calendar: 'is not a real calendar date or time',
  offset: 'has a UTC offset outside -14:00 to +14:00',
  gap: 'is a local time that does not exist in the configured time zone (skipped when clocks went forward)',
  range: 'is outside the supported range (years 0001 to 9999 in UTC)',
};

function date(timeZone: string) {
  return z.preprocess(
    (value) => (value === '' ? null : value),
    z.string({ error: DATE_FORMAT }).nullable().transform((text, ctx) => {
      if (text === null) return null;
      const parsed = parseDotnetDate(text, timeZone);
      if (parsed.ok) return parsed.value;
      ctx.issues.push({ code: 'custom', message: DATE_MESSAGES[parsed.reason], input: text });
      return z.NEVER;
    }),
  );
}

function text(maxLength: number) {
  return z.preprocess(
    (value) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : value),
    z.string({ error: 'must be a string' })
      // Length as .NET counts it (string.Length, [MaxLength]): UTF-16 code units, so 🏥 counts 2.
      .refine((s) => s.length <= maxLength, { error: `must be at most ${maxLength} characters long (UTF-16 code units, as .NET counts)` })
      .refine((s) => !CONTROL.test(s), { error: 'must not contain control characters (tab, line feed and CRLF are allowed)' })
      // A lone UTF-16 surrogate cannot be stored as UTF-8: the database would silently alter it.
      .refine((s) => s.isWellFormed(), { error: 'must be valid Unicode text (no lone surrogates)' })
      .nullable(),
  );
}

export function fieldSchema(kind: FieldKind, rules: PatientRules) {
  switch (kind) {
    case 'integer':
      return integer(RANGES.integer.min, RANGES.integer.max);
    case 'signedByte':
      return integer(RANGES.signedByte.min, RANGES.signedByte.max);
    case 'date':
      return date(rules.timeZone);
    case 'string':
      return text(rules.maxStringLength);
  }
}
