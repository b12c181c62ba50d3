import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../src/import/client.ts';
import { parseOptions } from '../../src/import/options.ts';

describe('import options', () => {
  it('when only a file is given, then the format comes from its extension and the defaults apply', () => {
    expect(parseOptions(['export/Registry.JSONL'], {})).toMatchObject({ file: 'export/Registry.JSONL', format: 'ndjson', url: 'http://127.0.0.1:3000', concurrency: 4, resume: false, wait: false, retryForS: 600 });
    expect(parseOptions(['a.json'], { API_KEY: 'k1' })).toMatchObject({ format: 'json', key: 'k1' });
    expect(parseOptions(['a.txt', '--format', 'csv', '--key', 'k2'], { API_KEY: 'k1' })).toMatchObject({ format: 'csv', key: 'k2' });
  });

  it.each([
    [['a.csv', '--concurrency', '0'], /--concurrency must be at least 1/],
    [['a.csv', '--batch-size', '1.5'], /--batch-size must be a whole number/],
    [['a.csv', '--retry-for', ''], /--retry-for must be a number/],
    [['a.csv', '--url', 'ftp://x'], /--url must be an http/],
    [['a.csv', '--resume', '--fresh'], /exclude each other/],
    [['-'], /reading stdin needs --format/],
    [['a.txt'], /cannot tell the format of a\.txt/],
    [['a.csv', 'b.csv'], /one input file at a time/],
    [[], /name one input file/],
    [['a.csv', '--colour'], /Unknown option '--colour'/],
  ])('when the arguments are %j, then a usage error says what is wrong', (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 2, message: expect.stringMatching(message) }));
  });
});

describe('Retry-After', () => {
  it('when given as seconds or as an HTTP date, then it becomes milliseconds; anything else is null', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:10 GMT', Date.parse('2025-01-01T00:00:00Z'))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeNull();
    expect(retryAfterMs(null)).toBeNull();
  });
});
