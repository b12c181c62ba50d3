// Dates as .NET writes them (DateTime "o" / Json.NET ISO 8601): date only, or date-time with 0-7
// fractional digits and `Z`, an offset, or nothing (local time in a configured zone, never the
// server's own). Only ASCII digits; anything else is an error, not a guess.

const DATE_RE =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,7}))?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/;

/**
 * Why a text is not a date: `format` (not .NET's ISO 8601), `calendar` (no such day or time),
 * `offset` (beyond ±14:00, .NET's limit), `gap` (a local time skipped by a clock change in the
 * zone), `range` (outside .NET's years 0001-9999 once converted to UTC).
 */
import { DAY, MINUTE, utcFromFields, wallToUtc, zoneOffsetMinutes } from './time-zone.ts';

export { assertTimeZone, zoneOffsetMinutes } from './time-zone.ts';

export type DateFailure = 'format' | 'calendar' | 'offset' | 'gap' | 'range';
export type DateParse = { ok: true; value: Date | null } | { ok: false; reason: DateFailure };

const MAX_OFFSET_MINUTES = 14 * 60;

/** .NET's DateTime range in UTC: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z. */
const MIN_UTC = utcFromFields(1, 1, 1, 0, 0, 0, 0);
const MAX_UTC = utcFromFields(9999, 12, 31, 23, 59, 59, 999);

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Proleptic Gregorian, as .NET's DateTime. */
function daysInMonth(y: number, mo: number): number {
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!;
}

/** Parses a .NET date string; `0001-01-01T00:00:00` (DateTime.MinValue, .NET's "no date") is null. */
export function parseDotnetDate(text: string, timeZone: string): DateParse {
  const m = DATE_RE.exec(text);
  if (!m) return { ok: false, reason: 'format' };
  const [, ys, mos, ds, hs, mis = '0', ss = '0', frac = '', zone] = m;
  const y = Number(ys), mo = Number(mos), d = Number(ds), h = Number(hs ?? '0'), mi = Number(mis), s = Number(ss);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return { ok: false, reason: 'calendar' };
  }
  let offset: number | undefined;
  if (zone === 'Z') offset = 0;
  else if (zone) {
    const oh = Number(zone.slice(1, 3)), om = Number(zone.slice(4, 6));
    if (om > 59) return { ok: false, reason: 'calendar' };
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
    if (Math.abs(offset) > MAX_OFFSET_MINUTES) return { ok: false, reason: 'offset' };
  }
  if (y === 1 && mo === 1 && d === 1 && h === 0 && mi === 0 && s === 0 && /^0*$/.test(frac)) {
    return { ok: true, value: null };
  }
  // 100 ns ticks beyond the millisecond are cut, as a JavaScript Date (and BSON) cannot hold them.
  const wall = utcFromFields(y, mo, d, h, mi, s, Number(frac.padEnd(3, '0').slice(0, 3)));
  let utc: number | null;
  if (offset !== undefined) utc = wall - offset * MINUTE;
  else {
    utc = wallToUtc(wall, timeZone);
    // A date alone means the start of that day, even where the day starts late (midnight skipped).
    if (utc === null && hs === undefined) utc = wall - zoneOffsetMinutes(timeZone, wall - DAY) * MINUTE;
    if (utc === null) return { ok: false, reason: 'gap' };
  }
  if (utc < MIN_UTC || utc > MAX_UTC) return { ok: false, reason: 'range' };
  return { ok: true, value: new Date(utc) };
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/**
 * Formats like the seed's samples: `2025-10-31T19:55:09.1380000+07:00`, in the configured zone.
 * An instant whose local year would leave 0001-9999 is written in UTC with `Z`, so that the text
 * always parses back to the same instant.
 */
export function formatDotnetDate(date: Date, timeZone: string): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('formatDotnetDate: invalid Date');
  let offset = zoneOffsetMinutes(timeZone, ms);
  let local = new Date(ms + offset * MINUTE);
  let suffix: string | undefined;
  if (local.getUTCFullYear() < 1 || local.getUTCFullYear() > 9999) {
    offset = 0;
    local = new Date(ms);
    suffix = 'Z';
  }
  suffix ??= `${offset < 0 ? '-' : '+'}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `.${pad(local.getUTCMilliseconds(), 3)}0000${suffix}`
  );
}
