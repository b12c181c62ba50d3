// The token reader: JSON read token by token as it arrives, a batch's array (`$.*`) or one NDJSON line
// (`$`). The batch route reads with json-scan.ts, which hands this reader only the items it must judge
// exactly (JSON.parse refused them, or they may hold a forbidden key); the unit tests hold the two together.
// Each item is built alone and handed over as soon as it is complete; nothing keeps the body's text
// or its whole tree. Every bound is checked on the tokens before they are built into a value, so a
// body of 2,000,000 nested `[` stops at the 33rd (json-depth.ts's bound), and an item stops at its
// size bound within one piece of input.
import Tokenizer from '@streamparser/json/tokenizer.js';
import TokenParser from '@streamparser/json/tokenparser.js';
import TokenType from '@streamparser/json/utils/types/tokenType.js';
import { MAX_JSON_DEPTH } from '../json-depth.ts';

export type StreamProblemCode = 'BATCH_NOT_ARRAY' | 'BATCH_TOO_LARGE' | 'BATCH_ITEM_TOO_LARGE' | 'BODY_TOO_DEEP' | 'BODY_INVALID_JSON' | 'BODY_FORBIDDEN_KEY';
/** What stopped the reading and where: the item's index (when inside one) and the byte offset in the body. */
export type StreamProblem = { code: StreamProblemCode; index?: number; offset: number; ended?: boolean };

export type ValueReaderOptions = {
  /** 'array': the body must be one JSON array, its elements are the items; 'value': one item (an NDJSON line). */
  mode: 'array' | 'value';
  /** Byte offset of the first byte written, in the whole body (an NDJSON line's start). */
  base: number;
  /** Items an array may hold; in 'value' mode 1 (a second value on the line is not JSON). */
  maxItems: number;
  maxItemBytes: number;
  /** The index of the first item (an NDJSON line's own index). */
  firstIndex?: number;
  onItem: (value: unknown, index: number) => void;
};

export type ValueReader = { write(bytes: Uint8Array): StreamProblem | undefined; end(): StreamProblem | undefined };

// The patterns secure-json-parse (Fastify's JSON parser) looks for first; a match is decided exactly by the token reader.
const SUSPECT = [
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/,
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/,
];

export const parseOrUndefined = (text: string): { value: unknown } | undefined => {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined; // decided by the token reader, exactly
  }
};
export const mayHoldForbiddenKey = (text: string) => SUSPECT.some((re) => re.test(text));

// Small pieces: the reader stops within one of them after a problem, and an item's size bound is
// checked between them, even when the transport hands over the whole body as one chunk.
const PIECE = 16 * 1024;
const OPEN = new Set<number>([TokenType.LEFT_BRACE, TokenType.LEFT_BRACKET]);
const CLOSE = new Set<number>([TokenType.RIGHT_BRACE, TokenType.RIGHT_BRACKET]);

type Frame = { object: boolean; expectKey: boolean; key?: string };

/** The token-by-token reader: exact in every problem and its byte; json-scan.ts uses it for items JSON.parse refuses. */
export function createTokenReader(opts: ValueReaderOptions): ValueReader {
  // Partial tokens: a long string or number shows where it begins before it ends, so an item that
  // is one long string is bounded as it arrives too.
  const tokenizer = new Tokenizer({ emitPartialTokens: true });
  const parser = new TokenParser({ paths: [opts.mode === 'array' ? '$.*' : '$'], keepStack: false });
  const itemDepth = opts.mode === 'array' ? 1 : 0;
  const stack: Frame[] = [];
  let problem: StreamProblem | undefined;
  let started = false;
  let count = 0;
  let index = (opts.firstIndex ?? 0) - 1;
  let itemStart: number | undefined; // absolute offset of the item being read
  let written = 0;
  let lastOffset = opts.base;

  // The index is named when the problem is inside an item (or is the item past the bound).
  const stop = (code: StreamProblemCode, offset: number, at: number | undefined = itemStart !== undefined ? index : undefined) => {
    problem ??= { code, offset, ...(at !== undefined ? { index: at } : {}) };
  };

  tokenizer.onToken = ({ token, value, offset, partial }) => {
    if (problem) return;
    const at = opts.base + offset;
    lastOffset = at;
    if (!started) {
      started = true;
      if (opts.mode === 'array' && token !== TokenType.LEFT_BRACKET) return stop('BATCH_NOT_ARRAY', at);
    }
    const top = stack[stack.length - 1];
    if (stack.length === itemDepth && itemStart === undefined && token !== TokenType.COMMA && !CLOSE.has(token)) {
      // An item begins: counted before it is read, so item max + 1 is never parsed.
      if (++count > opts.maxItems) return opts.mode === 'value' ? stop('BODY_INVALID_JSON', at) : stop('BATCH_TOO_LARGE', at, index + 1);
      index++;
      itemStart = at;
    }
    if (itemStart !== undefined && at - itemStart >= opts.maxItemBytes) return stop('BATCH_ITEM_TOO_LARGE', at);
    if (partial) return; // the whole token follows, with the same offset
    if (OPEN.has(token)) {
      if (stack.length >= MAX_JSON_DEPTH) return stop('BODY_TOO_DEEP', at);
      stack.push({ object: token === TokenType.LEFT_BRACE, expectKey: token === TokenType.LEFT_BRACE });
    } else if (CLOSE.has(token)) stack.pop();
    else if (token === TokenType.COMMA && top?.object) top.expectKey = true;
    else if (token === TokenType.STRING && top?.object && top.expectKey) {
      // A key: refused as the app's JSON parser refuses it (onProtoPoisoning/onConstructorPoisoning 'error').
      top.expectKey = false;
      top.key = value as string;
      const parent = stack[stack.length - 2];
      if (value === '__proto__' || (value === 'prototype' && parent?.object && parent.key === 'constructor')) return stop('BODY_FORBIDDEN_KEY', at);
    }
    parser.write({ token, value });
    if (stack.length === itemDepth && token !== TokenType.COMMA) itemStart = undefined; // the item is complete
  };
  // A line's value counts once the line has ended well: `{"id":3} {"id":4}` is not JSON as a whole.
  let held: { value: unknown } | undefined;
  parser.onValue = ({ value }) => {
    if (problem) return;
    if (opts.mode === 'value') held = { value };
    else opts.onItem(value, index);
  };
  // The libraries' messages quote the input: only the position is kept.
  tokenizer.onError = (err) => {
    const position = /absolute position "(\d+)"/.exec(err.message)?.[1];
    stop('BODY_INVALID_JSON', position === undefined ? lastOffset : opts.base + Number(position));
  };
  parser.onError = () => stop('BODY_INVALID_JSON', lastOffset);

  return {
    write(bytes) {
      for (let i = 0; i < bytes.length && !problem; i += PIECE) {
        const piece = bytes.subarray(i, i + PIECE);
        tokenizer.write(piece);
        written += piece.length;
        // A long string or number is one token: bounded between pieces from where its item began.
        if (!problem && itemStart !== undefined && opts.base + written - itemStart > opts.maxItemBytes) stop('BATCH_ITEM_TOO_LARGE', opts.base + written);
      }
      return problem;
    },
    end() {
      if (problem) return problem;
      tokenizer.end();
      if (!problem && started && !parser.isEnded) stop('BODY_INVALID_JSON', opts.base + written);
      if (problem) (problem as StreamProblem).ended = true; // the body stops before the JSON does
      else if (held) opts.onItem(held.value, index);
      held = undefined;
      return problem;
    },
  };
}
