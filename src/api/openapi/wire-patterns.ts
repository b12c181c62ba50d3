// Regular expressions (ECMA-262 and Python `re` read them alike: ASCII classes only, no lookbehind,
// no \d or \s, which are Unicode-wide in Python) that describe exactly the texts the patient
// contract accepts, so clients and property-based testers generated from /docs/json send what the
// API takes and nothing it refuses. test/unit/wire-patterns.test.ts holds them to the validator.

/** Alternatives matching the canonical decimal text (no leading zeros) of every integer in lo..hi, same length. */
function sameLength(lo: string, hi: string): string[] {
  if (lo.length === 1) return [lo === hi ? lo : `[${lo}-${hi}]`];
  const [a, b] = [Number(lo[0]), Number(hi[0])];
  const [loRest, hiRest] = [lo.slice(1), hi.slice(1)];
  const n = loRest.length;
  if (a === b) return [`${a}${group(sameLength(loRest, hiRest))}`];
  const out: string[] = [];
  let first = a;
  let last = b;
  if (loRest !== '0'.repeat(n)) {
    out.push(`${a}${group(sameLength(loRest, '9'.repeat(n)))}`);
    first = a + 1;
  }
  const tail = hiRest !== '9'.repeat(n) ? `${b}${group(sameLength('0'.repeat(n), hiRest))}` : undefined;
  if (tail) last = b - 1;
  if (first <= last) out.push(`${first === last ? first : `[${first}-${last}]`}[0-9]{${n}}`);
  if (tail) out.push(tail);
  return out;
}

const group = (alts: string[]) => (alts.length === 1 ? alts[0]! : `(?:${alts.join('|')})`);

/** Canonical decimal text of lo..hi (1 <= lo <= hi), as one group. */
export function positiveRange(lo: number, hi: number): string {
  const alts: string[] = [];
  for (let len = String(lo).length; len <= String(hi).length; len++) {
    const from = len === String(lo).length ? String(lo) : `1${'0'.repeat(len - 1)}`;
    const to = len === String(hi).length ? String(hi) : '9'.repeat(len);
    alts.push(...sameLength(from, to));
  }
  return group(alts);
}

// .NET's Int32.Parse: ASCII white space around, an optional sign, any number of leading zeros.
const WS = '[\\t\\n\\v\\f\\r ]*';

/** A string of digits the contract reads as an integer in min..max (min < 0 < max, or min >= 1). */
export function integerText(min: number, max: number): string {
  const parts = [`\\+?0*${positiveRange(Math.max(1, min), max)}`];
  if (min < 0) parts.push(`-0*${positiveRange(1, -min)}`, '[-+]?0+');
  return `^${WS}${group(parts)}${WS}$`;
}

/** White space only: an empty form value, read as "no value" for integer fields. */
export const BLANK_TEXT = `^${WS}$`;

// Years 0002-9998: any offset (up to ±14:00) keeps them inside .NET's 0001-9999 once in UTC.
const YEAR = '(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])';
const LEAP_YEAR = '(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)';
const MONTH_DAY = '(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))';
const TIME = 'T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,7})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)?';

/** A .NET ISO 8601 date or date-time on a real calendar day (the empty string is "no date"). */
export const DATE_TEXT = `^(?:(?:${YEAR}-${MONTH_DAY}|${LEAP_YEAR}-02-29)(?:${TIME})?)?$`;

/** C0/C1 control characters but tab and LF, and CR not followed by LF: refused anywhere in a string. */
export const CONTROL_TEXT = '[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]|\\r(?!\\n)';

/**
 * Allowed characters of the Basic Multilingual Plane only. .NET counts a string's length in UTF-16
 * units, JSON Schema in characters: for a BMP-only string the two agree.
 */
export const BMP_TEXT = '^(?:[\\t\\n\\u0020-\\u007e\\u00a0-\\ud7ff\\ue000-\\uffff]|\\r\\n)*$';
