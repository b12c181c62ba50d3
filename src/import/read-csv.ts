// CSV with a header row of the patient fields, in any case (ASP.NET binds names case-insensitively).
// An unquoted empty value is null, a quoted one ("") the empty string; numbers and dates go to the
// API as the text they are, which it reads as .NET would. Each record keeps the line it starts on:
// csv-parse's own line count differs between LF and CRLF files, so a small quote-aware scan of the
// same bytes, just ahead of the parser, notes where each record begins.
import { parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { PATIENT_FIELD_NAMES } from '../shared/patient/patient-fields.ts';
import { usageError } from './errors.ts';
import type { ReaderOptions, SourceRecord } from './source-record.ts';

type Row = { record: (string | null)[]; raw: string };

const FIELDS = new Map(PATIENT_FIELD_NAMES.map((name) => [name.toLowerCase(), name]));

export async function* readCsv(chunks: AsyncIterable<Buffer>, options: ReaderOptions): AsyncGenerator<SourceRecord> {
  const starts: number[] = [];
  const parser = Readable.from(recordStarts(chunks, starts)).pipe(
    parse({
      bom: true,
      raw: true,
      skip_empty_lines: true,
      relax_column_count: true, // a short or long row is that record's error, not the end of the import
      cast: (value, context) => (context.quoting ? value : value === '' || value === options.csvNull ? null : value),
    }),
  );
  let columns: (string | undefined)[] | null = null;
  try {
    for await (const row of parser as AsyncIterable<Row>) {
      const line = starts.shift() ?? 0;
      if (!columns) {
        columns = header(row.record, options);
        continue;
      }
      if (row.record.length !== columns.length) {
        yield { line, errors: [{ path: '(row)', message: `has ${row.record.length} value(s); the header has ${columns.length}` }], original: row.raw.trim() };
        continue;
      }
      const patient: Record<string, string | null> = {};
      row.record.forEach((value, i) => {
        const field = columns![i];
        if (field) patient[field] = value;
      });
      yield { line, json: JSON.stringify(patient) };
    }
  } catch (err) {
    if ((err as Error).name === 'ImportError') throw err;
    const where = (err as { lines?: number }).lines;
    throw usageError(`the input is not valid CSV${where ? ` (line ${where})` : ''}: ${(err as { code?: string }).code ?? 'parse error'}`);
  }
  if (!columns) throw usageError('the input is empty: expected a CSV header row naming the patient fields');
}

/** Column i's field name, or undefined for a column the API does not know (it would ignore it). */
function header(names: (string | null)[], options: ReaderOptions): (string | undefined)[] {
  const columns = names.map((name) => FIELDS.get((name ?? '').trim().toLowerCase()));
  const seen = new Set<string>();
  for (const field of columns) {
    if (field && seen.has(field)) throw usageError(`the CSV header names ${field} twice`);
    if (field) seen.add(field);
  }
  if (!seen.has('id')) throw usageError(`the CSV header has no id column (it names: ${names.join(', ').slice(0, 300)})`);
  const unknown = names.filter((_, i) => !columns[i]);
  if (unknown.length > 0) options.warn(`ignoring CSV column(s) the API does not know: ${unknown.join(', ').slice(0, 300)}`);
  return columns;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Passes the chunks on, noting the line of each record's first byte (quoted newlines do not end one). */
async function* recordStarts(chunks: AsyncIterable<Buffer>, starts: number[]): AsyncGenerator<Buffer> {
  let line = 1;
  let quoted = false;
  let inRecord = false;
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === LF) {
        line++;
        if (!quoted) inRecord = false;
      } else if (byte !== CR || quoted) {
        if (!inRecord) starts.push(line);
        inRecord = true;
        if (byte === QUOTE) quoted = !quoted;
      }
    }
    yield chunk;
  }
}
