// The input: a file or stdin, read as a stream of chunks whose bytes are counted (progress and ETA
// come from the bytes read against the file's size). Records come from the reader of the format.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { usageError } from './errors.ts';
import type { Format } from './options.ts';
import { readCsv } from './read-csv.ts';
import { readJsonArray } from './read-json-array.ts';
import { readNdjson } from './read-ndjson.ts';
import type { ReaderOptions, SourceRecord } from './source-record.ts';

export type { ReaderOptions, SourceRecord } from './source-record.ts';

/** What the checkpoint compares before a resume: the same file, unchanged. */
export type InputIdentity = { name: string; size: number | null; mtimeMs: number | null; head: string | null };

export type Source = {
  records: AsyncIterable<SourceRecord>;
  bytesRead: () => number;
  /** Bytes in the file; null for stdin. */
  size: number | null;
  identity: InputIdentity;
};

const HEAD_BYTES = 64 * 1024;

export async function openSource(file: string, format: Format, stdin: Readable, options: ReaderOptions): Promise<Source> {
  let input: Readable;
  let identity: InputIdentity = { name: file, size: null, mtimeMs: null, head: null };
  if (file === '-') {
    input = stdin;
  } else {
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw usageError(`cannot read ${file}: ${err.code ?? err.message}`);
    });
    if (!info.isFile()) throw usageError(`${file} is not a file`);
    identity = { name: file, size: info.size, mtimeMs: info.mtimeMs, head: await headDigest(file) };
    input = createReadStream(file, { highWaterMark: 64 * 1024 });
  }
  let bytes = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      bytes += buffer.length;
      yield buffer;
    }
  }
  const read = { ndjson: readNdjson, json: readJsonArray, csv: readCsv }[format];
  return { records: read(counted(), options), bytesRead: () => bytes, size: identity.size, identity };
}

async function headDigest(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return createHash('sha256').update(buffer.subarray(0, bytesRead)).digest('hex');
  } finally {
    await handle.close();
  }
}

/** Records in batches of `size`, numbered from 0 (a checkpoint names the batches it holds). */
export type Batch = { index: number; items: SourceRecord[] };

export async function* batches(records: AsyncIterable<SourceRecord>, size: number): AsyncGenerator<Batch> {
  let index = 0;
  let items: SourceRecord[] = [];
  for await (const record of records) {
    items.push(record);
    if (items.length === size) {
      yield { index: index++, items };
      items = [];
    }
  }
  if (items.length > 0) yield { index, items };
}
