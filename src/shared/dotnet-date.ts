// Dates as .NET writes them (DateTime "o" / Json.NET ISO 8601): date only, or date-time with 0-7
// fractional digits and `Z`, an offset, or nothing (local time in a configured zone).

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?)?$/;

export type DateParse = { ok: true; value: Date | null } | { ok: false; reason: 'format' | 'calendar' };

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Offset of `timeZone` from UTC at instant `utcMs`, in minutes (Bangkok: +420). */
export function zoneOffsetMinutes(timeZone: string, utcMs: number): number {
  const parts: Record<string, string> = {};
  for (const p of zoneFormatter(timeZone).formatToParts(new Date(utcMs))) parts[p.type] = p.value;
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const asUtc = utcFromFields(year, Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second), 0);
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

function utcFromFields(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

function daysInMonth(y: number, mo: number): number {
  return new Date(utcFromFields(y, mo + 1, 0, 0, 0, 0, 0)).getUTCDate();
}

/** Parses a .NET date string; `0001-01-01T00:00:00` (DateTime.MinValue, .NET's "no date") is null. */
export function parseDotnetDate(text: string, timeZone: string): DateParse {
  const m = DATE_RE.exec(text);
  if (!m) return { ok: false, reason: 'format' };
  const [, ys, mos, ds, hs = '0', mis = '0', ss = '0', frac = '', zone] = m;
  const y = Number(ys), mo = Number(mos), d = Number(ds), h = Number(hs), mi = Number(mis), s = Number(ss);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return { ok: false, reason: 'calendar' };
  }
  if (y === 1 && mo === 1 && d === 1 && h === 0 && mi === 0 && s === 0 && /^0*$/.test(frac)) {
    return { ok: true, value: null };
  }
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const wall = utcFromFields(y, mo, d, h, mi, s, ms);
  let offset: number;
  if (zone === 'Z') offset = 0;
  else if (zone) {
    const oh = Number(zone.slice(1, 3)), om = Number(zone.slice(4, 6));
    if (oh > 14 || om > 59) return { ok: false, reason: 'calendar' };
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    // Wall-clock time in the zone: two passes settle the offset across DST changes.
    offset = zoneOffsetMinutes(timeZone, wall);
    offset = zoneOffsetMinutes(timeZone, wall - offset * 60_000);
  }
  return { ok: true, value: new Date(wall - offset * 60_000) };
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** Formats like the seed's samples: `2025-10-31T19:55:09.1380000+07:00`, in the configured zone. */
export function formatDotnetDate(date: Date, timeZone: string): string {
  const offset = zoneOffsetMinutes(timeZone, date.getTime());
  const local = new Date(date.getTime() + offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `.${pad(local.getUTCMilliseconds(), 3)}0000${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}
