// Time-zone arithmetic over Intl (no library): offsets at an instant, and wall-clock times to instants.

export const MINUTE = 60_000;
export const DAY = 86_400_000;

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

/** Throws a RangeError unless `timeZone` is an IANA zone this runtime knows. */
export function assertTimeZone(timeZone: string): void {
  zoneFormatter(timeZone);
}

export function utcFromFields(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  // Date.UTC is the fast way (no Date object), but it reads years 0-99 as 1900-1999.
  if (y >= 100) return Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

/** Offset of `timeZone` from UTC at instant `utcMs`, in whole minutes (Bangkok: +420). */
export function zoneOffsetMinutes(timeZone: string, utcMs: number): number {
  const parts: Record<string, string> = {};
  for (const p of zoneFormatter(timeZone).formatToParts(new Date(utcMs))) parts[p.type] = p.value;
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const asUtc = utcFromFields(year, Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second), 0);
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / MINUTE);
}

/**
 * The instant of a wall-clock time in `timeZone` (`wall` is that time read as if it were UTC).
 * Like .NET's TimeZoneInfo.ConvertTimeToUtc: a time that occurs twice (clocks set back) is taken
 * as the later one, standard time; a time that never occurs (clocks set forward) is `null`.
 */
export function wallToUtc(wall: number, timeZone: string): number | null {
  // The true offset is among the offsets in force within a day of the wall time.
  const candidates = new Set([-DAY, 0, DAY].map((shift) => zoneOffsetMinutes(timeZone, wall + shift)));
  let found: number | null = null;
  for (const offset of candidates) {
    const utc = wall - offset * MINUTE;
    if (zoneOffsetMinutes(timeZone, utc) === offset && (found === null || utc > found)) found = utc;
  }
  return found;
}
