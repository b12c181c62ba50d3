import { describe, expect, it } from 'vitest';
import { readCsv } from '../../src/import/read-csv.ts';
import { readJsonArray } from '../../src/import/read-json-array.ts';
import { readNdjson } from '../../src/import/read-ndjson.ts';
import type { ReaderOptions, SourceRecord } from '../../src/import/source.ts';

// The readers of the import command, fed in chunks of every size down to one byte: a record's line
// number and content must not depend on where the chunks happen to end.

type Reader = (chunks: AsyncIterable<Buffer>, options: ReaderOptions) => AsyncGenerator<SourceRecord>;

async function read(reader: Reader, text: string, chunkSize = text.length, options: Partial<ReaderOptions> = {}) {
  const warnings: string[] = [];
  const bytes = Buffer.from(text);
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  }
  const records: SourceRecord[] = [];
  for await (const r of reader(chunks(), { warn: (m) => warnings.push(m), ...options })) records.push(r);
  return { records, warnings };
}

const lines = (records: SourceRecord[]) => records.map((r) => r.line);
const json = (records: SourceRecord[]) => records.map((r) => ('json' in r ? JSON.parse(r.json) : r));

describe('NDJSON reader', () => {
  const text = '\uFEFF{"id":1,"fullname":"กขค"}\r\n\n{"id":2}\n   \n{"id": 3, oops\n{"id":4}';

  it.each([1, 2, 3, 7, 1000])('when read in chunks of %i bytes, then each record keeps its line and its text, blank lines skipped', async (size) => {
    const { records } = await read(readNdjson, text, size);
    expect(lines(records)).toEqual([1, 3, 5, 6]);
    expect(records.map((r) => 'json' in r && r.json)).toEqual(['{"id":1,"fullname":"กขค"}', '{"id":2}', '{"id": 3, oops', '{"id":4}']);
  });
});

describe('JSON array reader', () => {
  const text = '[\n  {"id": 1, "fullname": "a\\nb ]"},\n  {\n    "id": 2,\n    "hn": "x,{"\n  },\n  "not a record",\n  [1], {"id":5}\n]\n';

  it.each([1, 2, 5, 64, 10_000])('when read in chunks of %i bytes, then each element comes with the line it starts on', async (size) => {
    const { records } = await read(readJsonArray, text, size);
    expect(lines(records)).toEqual([2, 3, 7, 8, 8]);
    expect(json(records)).toEqual([{ id: 1, fullname: 'a\nb ]' }, { id: 2, hn: 'x,{' }, 'not a record', [1], { id: 5 }]);
  });

  it('when the input is an object or broken JSON, then a usage error names the problem and the line', async () => {
    await expect(read(readJsonArray, '{"id":1}\n{"id":2}\n')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/not a JSON array \(line 1\).*--format ndjson/) });
    await expect(read(readJsonArray, '[\n{"id":1},\n{"id":2,,}\n]')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/not valid JSON near line 3/) });
    await expect(read(readJsonArray, '[\n{"id":1},\n')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(read(readJsonArray, '')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/empty/) });
  });
});

describe('CSV reader', () => {
  const text = 'ID,FullName,CENTER_ID,Extra\r\n1,"two\r\nlines",3,x\r\n2,,"",y\r\n\r\n3,NULL,4\r\n4,"a ""quoted"" name",5,z\r\n';

  it.each([1, 3, 16, 10_000])('when read in chunks of %i bytes, then fields map to the contract names and records keep their first line', async (size) => {
    const { records, warnings } = await read(readCsv, text, size, { csvNull: 'NULL' });
    expect(lines(records)).toEqual([2, 4, 6, 7]);
    expect(json(records)).toEqual([
      { id: '1', fullname: 'two\r\nlines', center_id: '3' },
      { id: '2', fullname: null, center_id: '' },
      { line: 6, errors: [{ path: '(row)', message: 'has 3 value(s); the header has 4' }], original: '3,NULL,4' },
      { id: '4', fullname: 'a "quoted" name', center_id: '5' },
    ]);
    expect(warnings).toEqual(['ignoring CSV column(s) the API does not know: Extra']);
  });

  it('when the header has no id column or names a field twice, then a usage error says so', async () => {
    await expect(read(readCsv, 'fullname,hn\na,b\n')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/no id column/) });
    await expect(read(readCsv, 'id,HN,hn\n1,a,b\n')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/names hn twice/) });
    await expect(read(readCsv, '')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/empty/) });
  });
});
