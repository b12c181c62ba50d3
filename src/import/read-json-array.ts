// A JSON array of records, streamed: the tokenizer reports the byte offset of every token, so each
// element gets the line it starts on (counted in the same chunk, before the next one is written),
// and the token parser builds one element at a time, never the whole array.
import Tokenizer from '@streamparser/json/tokenizer.js';
import TokenParser from '@streamparser/json/tokenparser.js';
import TokenType from '@streamparser/json/utils/types/tokenType.js';
import { usageError } from './errors.ts';
import type { ReaderOptions, SourceRecord } from './source-record.ts';

const NEWLINE = 0x0a;
const OPENERS = new Set<number>([TokenType.LEFT_BRACE, TokenType.LEFT_BRACKET]);
const CLOSERS = new Set<number>([TokenType.RIGHT_BRACE, TokenType.RIGHT_BRACKET]);

export async function* readJsonArray(chunks: AsyncIterable<Buffer>, _options: ReaderOptions): AsyncGenerator<SourceRecord> {
  const tokenizer = new Tokenizer();
  const parser = new TokenParser({ paths: ['$.*'], keepStack: false });
  let depth = 0;
  let sawArray = false;
  // Line counting: `chunk` starts at byte `chunkStart`; newlines before `counted` are in `line`.
  let chunk: Buffer = Buffer.alloc(0);
  let chunkStart = 0;
  let counted = 0;
  let line = 1;
  const lineAt = (offset: number) => {
    for (let i = Math.max(counted, chunkStart); i < offset; i++) if (chunk[i - chunkStart] === NEWLINE) line++;
    counted = Math.max(counted, offset);
    return line;
  };
  const starts: number[] = [];
  const ready: SourceRecord[] = [];

  tokenizer.onToken = (token) => {
    if (depth === 0 && !sawArray) {
      if (token.token !== TokenType.LEFT_BRACKET) throw usageError(`the input is not a JSON array (line ${lineAt(token.offset)}); for one record per line use --format ndjson`);
      sawArray = true;
    } else if (depth === 1 && token.token !== TokenType.COMMA && !CLOSERS.has(token.token)) {
      starts.push(lineAt(token.offset)); // an element begins here
    }
    if (OPENERS.has(token.token)) depth++;
    else if (CLOSERS.has(token.token)) depth--;
    parser.write(token);
  };
  parser.onValue = ({ value }) => {
    ready.push({ line: starts.shift() ?? line, json: JSON.stringify(value) });
  };
  const fail = (err: Error): never => {
    if (err.name === 'ImportError') throw err;
    throw usageError(`the input is not valid JSON near line ${line}: ${err.message.replace(/"[^"]*"/g, '…')}`);
  };
  tokenizer.onError = fail;
  parser.onError = fail;

  for await (const data of chunks) {
    lineAt(chunkStart + chunk.length); // finish counting the previous chunk before dropping it
    chunkStart += chunk.length;
    chunk = data;
    tokenizer.write(data);
    while (ready.length > 0) yield ready.shift()!;
  }
  if (!sawArray) throw usageError('the input is empty: expected a JSON array of records');
  tokenizer.end();
  if (depth !== 0) fail(new Error('the array is not closed'));
  while (ready.length > 0) yield ready.shift()!;
}
