// NDJSON: one record per line. Lines go to the API as they are (it reports a line that is not
// JSON as that item's error), so a record is never parsed here; blank lines are skipped.
import type { ReaderOptions, SourceRecord } from './source-record.ts';

const NEWLINE = 0x0a;

export async function* readNdjson(chunks: AsyncIterable<Buffer>, _options: ReaderOptions): AsyncGenerator<SourceRecord> {
  let line = 0;
  let rest: Buffer | null = null;
  for await (const chunk of chunks) {
    const data: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
      line++;
      const record = lineRecord(line, data.subarray(start, end));
      if (record) yield record;
      start = end + 1;
    }
    // A copy: a view would keep the whole chunk alive for the sake of a partial line.
    rest = start < data.length ? Buffer.from(data.subarray(start)) : null;
  }
  if (rest) {
    const record = lineRecord(line + 1, rest);
    if (record) yield record;
  }
}

function lineRecord(line: number, bytes: Buffer): SourceRecord | null {
  // Decoded per line, so a multi-byte character split across chunks is never cut; BOM and CR dropped.
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '').trim();
  return text === '' ? null : { line, json: text };
}
