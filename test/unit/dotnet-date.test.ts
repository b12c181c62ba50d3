import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { formatDotnetDate, parseDotnetDate, type DateFailure } from '../../src/shared/patient/dotnet-date.ts';

// Issue 3, dates: ISO 8601 as .NET writes it; local times belong to the configured zone (never the
// server's); DateTime.MinValue is "no date"; anything impossible or differently written is an error.

const BKK = 'Asia/Bangkok';
const NY = 'America/New_York';

function instant(text: string, zone = BKK): string | null {
  const parsed = parseDotnetDate(text, zone);
  if (!parsed.ok) throw new Error(`expected ${text} to parse, got ${parsed.reason}`);
  return parsed.value === null ? null : parsed.value.toISOString();
}

function failure(text: string, zone = BKK): DateFailure | 'accepted' {
  const parsed = parseDotnetDate(text, zone);
  return parsed.ok ? 'accepted' : parsed.reason;
}

describe('parseDotnetDate: the forms .NET writes', () => {
  it.each([
    ['2025-10-31', '2025-10-30T17:00:00.000Z'],
    ['2025-10-31T19:55:09', '2025-10-31T12:55:09.000Z'],
    ['2025-10-31T19:55:09.1', '2025-10-31T12:55:09.100Z'],
    ['2025-10-31T19:55:09.12', '2025-10-31T12:55:09.120Z'],
    ['2025-10-31T19:55:09.123', '2025-10-31T12:55:09.123Z'],
    ['2025-10-31T19:55:09.1234', '2025-10-31T12:55:09.123Z'],
    ['2025-10-31T19:55:09.12345', '2025-10-31T12:55:09.123Z'],
    ['2025-10-31T19:55:09.123456', '2025-10-31T12:55:09.123Z'],
    ['2025-10-31T19:55:09.1383551', '2025-10-31T12:55:09.138Z'],
    ['2025-10-31T19:55:09.9999999', '2025-10-31T12:55:09.999Z'],
    ['2025-10-31T19:55:09.0000000', '2025-10-31T12:55:09.000Z'],
    ['2025-10-31T19:55:09Z', '2025-10-31T19:55:09.000Z'],
    ['2025-10-31T19:55:09.1383551Z', '2025-10-31T19:55:09.138Z'],
    ['2025-10-31T19:55:09.1383551+07:00', '2025-10-31T12:55:09.138Z'],
    ['2025-10-31T19:55:09-05:00', '2025-11-01T00:55:09.000Z'],
    ['2025-10-31T19:55:09+05:45', '2025-10-31T14:10:09.000Z'],
    ['2025-10-31T19:55:09+00:00', '2025-10-31T19:55:09.000Z'],
    ['2025-10-31T19:55:09-00:00', '2025-10-31T19:55:09.000Z'],
    ['2025-10-31T19:55:09+14:00', '2025-10-31T05:55:09.000Z'],
    ['2025-10-31T19:55:09-14:00', '2025-11-01T09:55:09.000Z'],
    ['2024-02-29', '2024-02-28T17:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['2025-12-31T23:59:59.9999999', '2025-12-31T16:59:59.999Z'],
    ['0001-01-01T00:00:01Z', '0001-01-01T00:00:01.000Z'],
    ['9999-12-31T23:59:59.9999999Z', '9999-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59.9999999', '9999-12-31T16:59:59.999Z'],
  ])('when %s is parsed in Bangkok, then it is the instant %s', (text, expected) => {
    expect(instant(text)).toBe(expected);
  });

  it.each([
    '0001-01-01T00:00:00',
    '0001-01-01T00:00:00.0000000',
    '0001-01-01',
    '0001-01-01T00:00:00Z',
    '0001-01-01T00:00:00+00:00',
    '0001-01-01T00:00:00.0000000+07:00',
  ])('when %s (DateTime.MinValue) is parsed, then it is null, no date', (text) => {
    expect(instant(text)).toBeNull();
    expect(instant(text, NY)).toBeNull();
  });
});

describe('parseDotnetDate: impossible values and other formats', () => {
  it.each([
    ['2025-02-30', 'calendar'],
    ['2023-02-29', 'calendar'],
    ['1900-02-29T00:00:00Z', 'calendar'],
    ['2025-04-31', 'calendar'],
    ['2025-13-01', 'calendar'],
    ['2025-00-10', 'calendar'],
    ['2025-01-00', 'calendar'],
    ['2025-01-32', 'calendar'],
    ['0000-01-01', 'calendar'],
    ['2025-10-31T24:00:00', 'calendar'],
    ['2025-10-31T23:60:00', 'calendar'],
    ['2025-10-31T23:59:60', 'calendar'],
    ['2025-10-31T19:55:09+05:60', 'calendar'],
    ['2025-10-31T19:55:09+15:00', 'offset'],
    ['2025-10-31T19:55:09-15:00', 'offset'],
    ['2025-10-31T19:55:09+14:01', 'offset'],
    ['2025-10-31T19:55:09-14:30', 'offset'],
    ['2025-10-31T19:55:09+99:00', 'offset'],
    ['9999-12-31T23:59:59-01:00', 'range'],
    ['0001-01-01T00:00:01+07:00', 'range'],
    ['0001-01-01T03:00:00', 'range'],
  ] as const)('when %s is parsed, then it fails as %s', (text, reason) => {
    expect(failure(text)).toBe(reason);
  });

  it.each([
    '',
    ' ',
    '2025-10-31T19:55',
    '2025-10-31 19:55:09',
    '2025-10-31T19:55:09.',
    '2025-10-31T19:55:09.13835512',
    '2025-10-31T19:55:09+0700',
    '2025-10-31T19:55:09+07',
    '2025-10-31T19:55:09+7:00',
    '2025-10-31T19:55:09z',
    '2025-10-31t19:55:09',
    '2025-10-31Z',
    '2025-10-31+07:00',
    '20251031',
    '2025-1-5',
    '25-10-31',
    '+002025-10-31',
    '12025-10-31',
    '31/10/2025',
    '10/31/2025 7:55:09 PM',
    'Fri, 31 Oct 2025 12:55:09 GMT',
    '1761915309138',
    '/Date(1761915309138)/',
    ' 2025-10-31',
    '2025-10-31 ',
    '2025-10-31\n',
    '２０２５-10-31',
    '٢٠٢٥-10-31',
    '2025-10-31T19:55:09,1383551',
    'null',
  ])('when %j is parsed, then it is not a .NET date format', (text) => {
    expect(failure(text)).toBe('format');
  });
});

describe('parseDotnetDate: local times belong to the configured zone', () => {
  it.each([
    // New York, 2025-03-09: at 02:00 EST clocks jump to 03:00 EDT.
    [NY, '2025-03-09T01:59:59', '2025-03-09T06:59:59.000Z'],
    [NY, '2025-03-09T03:00:00', '2025-03-09T07:00:00.000Z'],
    [NY, '2025-01-15T12:00:00', '2025-01-15T17:00:00.000Z'],
    [NY, '2025-07-01T12:00:00', '2025-07-01T16:00:00.000Z'],
    // New York, 2025-11-02: at 02:00 EDT clocks go back to 01:00 EST; 01:xx happens twice and,
    // as in .NET's TimeZoneInfo.ConvertTimeToUtc, is taken as standard time (the later one).
    [NY, '2025-11-02T00:59:59', '2025-11-02T04:59:59.000Z'],
    [NY, '2025-11-02T01:00:00', '2025-11-02T06:00:00.000Z'],
    [NY, '2025-11-02T01:30:00', '2025-11-02T06:30:00.000Z'],
    [NY, '2025-11-02T02:00:00', '2025-11-02T07:00:00.000Z'],
    // Berlin (east of UTC) follows the same rules.
    ['Europe/Berlin', '2025-03-30T01:59:59', '2025-03-30T00:59:59.000Z'],
    ['Europe/Berlin', '2025-03-30T03:00:00', '2025-03-30T01:00:00.000Z'],
    ['Europe/Berlin', '2025-10-26T02:30:00', '2025-10-26T01:30:00.000Z'],
    // São Paulo 2018-11-04: midnight was skipped; a date alone means the day's first instant.
    ['America/Sao_Paulo', '2018-11-04', '2018-11-04T03:00:00.000Z'],
    // Bangkok has no daylight saving: the same wall times are always +07:00.
    [BKK, '2025-03-09T02:30:00', '2025-03-08T19:30:00.000Z'],
    [BKK, '2025-11-02T01:30:00', '2025-11-01T18:30:00.000Z'],
    [BKK, '2025-07-01T12:00:00', '2025-07-01T05:00:00.000Z'],
    [BKK, '2025-01-15T12:00:00', '2025-01-15T05:00:00.000Z'],
  ])('when in %s the local time %s is parsed, then it is %s', (zone, text, expected) => {
    expect(instant(text, zone)).toBe(expected);
  });

  it.each([
    [NY, '2025-03-09T02:00:00'],
    [NY, '2025-03-09T02:30:00'],
    [NY, '2025-03-09T02:59:59.9999999'],
    ['Europe/Berlin', '2025-03-30T02:30:00'],
    ['America/Sao_Paulo', '2018-11-04T00:30:00'],
  ])('when in %s the local time %s was skipped by the clock change, then it is an error', (zone, text) => {
    expect(failure(text, zone)).toBe('gap');
  });

  it('when a time carries Z or an offset, then the configured zone does not matter', () => {
    for (const zone of [BKK, NY, 'UTC', 'Pacific/Kiritimati']) {
      expect(instant('2025-03-09T02:30:00Z', zone)).toBe('2025-03-09T02:30:00.000Z');
      expect(instant('2025-03-09T02:30:00-05:00', zone)).toBe('2025-03-09T07:30:00.000Z');
    }
  });

  describe('with the process running in other zones', () => {
    const saved = process.env.TZ;
    afterEach(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });

    it.each(['UTC', 'America/New_York', 'Pacific/Kiritimati', 'Asia/Bangkok'])(
      'when the process TZ is %s, then local times still follow the configured zone',
      (processZone) => {
        process.env.TZ = processZone;
        expect(instant('2025-10-31T19:55:09.1383551')).toBe('2025-10-31T12:55:09.138Z');
        expect(instant('2025-03-09T03:00:00', NY)).toBe('2025-03-09T07:00:00.000Z');
        expect(instant('2025-11-02T01:30:00', NY)).toBe('2025-11-02T06:30:00.000Z');
        expect(formatDotnetDate(new Date('2025-10-31T12:55:09.138Z'), BKK)).toBe('2025-10-31T19:55:09.1380000+07:00');
      },
    );
  });
});

describe('formatDotnetDate', () => {
  it.each([
    [BKK, '2025-10-31T12:55:09.138Z', '2025-10-31T19:55:09.1380000+07:00'],
    [BKK, '2025-10-31T17:00:00.000Z', '2025-11-01T00:00:00.0000000+07:00'],
    [NY, '2025-07-01T16:00:00.001Z', '2025-07-01T12:00:00.0010000-04:00'],
    [NY, '2025-01-15T17:00:00.000Z', '2025-01-15T12:00:00.0000000-05:00'],
    [NY, '2025-11-02T05:30:00.000Z', '2025-11-02T01:30:00.0000000-04:00'],
    [NY, '2025-11-02T06:30:00.000Z', '2025-11-02T01:30:00.0000000-05:00'],
    ['UTC', '2025-10-31T12:55:09.999Z', '2025-10-31T12:55:09.9990000+00:00'],
    ['Asia/Kolkata', '2025-10-31T12:55:09.000Z', '2025-10-31T18:25:09.0000000+05:30'],
    ['America/St_Johns', '2025-01-15T12:00:00.000Z', '2025-01-15T08:30:00.0000000-03:30'],
    // The zone's local year would be 10000: written in UTC so that it still parses.
    [BKK, '9999-12-31T20:00:00.000Z', '9999-12-31T20:00:00.0000000Z'],
  ])('when an instant is formatted for %s, then it reads like the seed (%s -> %s)', (zone, iso, expected) => {
    expect(formatDotnetDate(new Date(iso), zone)).toBe(expected);
  });

  it('when the seed sample date is parsed and formatted, then it comes back in the seed style', () => {
    const parsed = parseDotnetDate('2025-10-31T19:55:09.1383551+07:00', BKK);
    expect(parsed.ok && parsed.value && formatDotnetDate(parsed.value, BKK)).toBe('2025-10-31T19:55:09.1380000+07:00');
  });

  it('when the Date is invalid, then formatting throws instead of writing NaN', () => {
    expect(() => formatDotnetDate(new Date(Number.NaN), BKK)).toThrow(RangeError);
  });

  it('when any instant in years 0001-9999 is formatted in any of several zones, then it parses back to the same instant', () => {
    const zones = [BKK, NY, 'UTC', 'Europe/Berlin', 'America/Sao_Paulo', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Kiritimati', 'Pacific/Pago_Pago'];
    const dates = fc.oneof(
      fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
      fc.date({ min: new Date('0001-01-01T00:00:01Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
    );
    fc.assert(
      fc.property(dates, fc.constantFrom(...zones), (date, zone) => {
        const text = formatDotnetDate(date, zone);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}0000(Z|[+-]\d{2}:\d{2})$/);
        const back = parseDotnetDate(text, zone);
        expect(back).toEqual({ ok: true, value: date });
      }),
      { numRuns: 1000 },
    );
  });
});
