// The batch body's fast reader (issue 24): the bytes are scanned once for the structure only (strings,
// nesting, item boundaries) and each complete item is parsed by JSON.parse, native and ~10x cheaper
// than the token-by-token reader (json-values.ts). The bounds are checked on the bytes as they come,
// as there: items counted as they begin, the size of the item in progress, the nesting depth. An item
// JSON.parse refuses, or whose text may hold a forbidden key, goes to the token reader alone, which
// finds the exact problem and its byte; the items before it are unaffected.
import { MAX_JSON_DEPTH } from '../json-depth.ts';
import { createTokenReader, mayHoldForbiddenKey, parseOrUndefined, type StreamProblem, type StreamProblemCode, type ValueReader, type ValueReaderOptions } from './json-values.ts';

const [QUOTE, BACKSLASH, COMMA, COLON, OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT] = [0x22, 0x5c, 0x2c, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d];
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
// Where the scan is: before the array, between items (expecting an item, or a comma or the end), in an item, after the array.
type Phase = 'before' | 'expectItem' | 'afterItem' | 'inItem' | 'done';

export function createValueReader(opts: ValueReaderOptions): ValueReader {
  const arrayMode = opts.mode === 'array';
  let phase: Phase = arrayMode ? 'before' : 'expectItem';
  let problem: StreamProblem | undefined;
  let started = false;
  let afterComma = false;
  let count = 0;
  let index = (opts.firstIndex ?? 0) - 1;
  const depth = arrayMode ? 1 : 0; // the levels around an item: the batch's array, or none for a line
  let level = 0; // nesting inside the item
  let inString = false;
  let escaped = false;
  let scalar = false; // the item is a number or a literal: it ends at the next delimiter
  let itemStart = 0;
  let parts: Uint8Array[] = [];
  let held: { value: unknown } | undefined;
  let base = opts.base; // absolute offset of the chunk being scanned

  const stop = (code: StreamProblemCode, offset: number, at: number | undefined = phase === 'inItem' ? index : undefined) => {
    problem ??= { code, offset, ...(at !== undefined ? { index: at } : {}) };
  };

  /** The item is complete: JSON.parse it, or let the token reader say exactly what is wrong with it. */
  const complete = (last: Uint8Array) => {
    parts.push(last);
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    phase = 'afterItem';
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (!mayHoldForbiddenKey(text)) {
      const parsed = parseOrUndefined(text);
      if (parsed) return void (arrayMode ? opts.onItem(parsed.value, index) : (held = parsed));
    }
    let found: { value: unknown } | undefined;
    const reader = createTokenReader({ mode: 'value', base: itemStart, maxItems: 1, maxItemBytes: opts.maxItemBytes, firstIndex: index, onItem: (value) => (found = { value }) });
    const p = reader.write(bytes) ?? reader.end();
    // Found only at the item's end (`tru`): in the body it breaks at the byte after it, as the token reader there says.
    if (p) problem ??= { code: p.code, offset: p.ended ? itemStart + bytes.length : p.offset, index };
    else if (!found) stop('BODY_INVALID_JSON', itemStart + bytes.length, index); // it breaks where it ends: `tru]`
    else if (arrayMode) opts.onItem(found.value, index);
    else held = found;
  };

  const beginItem = (c: number, at: number, i: number) => {
    if (arrayMode && ++count > opts.maxItems) return stop('BATCH_TOO_LARGE', at, index + 1);
    index++;
    phase = 'inItem';
    itemStart = at;
    inString = c === QUOTE;
    scalar = !inString && c !== OPEN_ARRAY && c !== OPEN_OBJECT;
    level = inString || scalar ? 0 : 1;
    if (depth + level > MAX_JSON_DEPTH) stop('BODY_TOO_DEEP', at);
    return i;
  };

  function scan(bytes: Uint8Array): void {
    let from = 0; // where the item in progress begins in this chunk
    let bs = bytes.indexOf(BACKSLASH); // the next backslash, or the chunk's length
    if (bs === -1) bs = bytes.length;
    for (let i = 0; i < bytes.length && !problem; i++) {
      const c = bytes[i]!;
      if (phase === 'inItem') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (level === 0) complete(bytes.subarray(from, i + 1));
          } else {
            // The bytes up to the next quote or backslash are the string's own: skipped at once.
            if (bs < i) {
              bs = bytes.indexOf(BACKSLASH, i);
              if (bs === -1) bs = bytes.length;
            }
            const q = bytes.indexOf(QUOTE, i);
            i = Math.min(q === -1 ? bytes.length : q, bs) - 1;
          }
        } else if (scalar) {
          if (isSpace(c) || c === COMMA || c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
            complete(bytes.subarray(from, i));
            i--; // the delimiter is the array's
          }
        } else if (c === QUOTE) inString = true;
        else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
          if (depth + ++level > MAX_JSON_DEPTH) stop('BODY_TOO_DEEP', base + i);
        } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && --level === 0) complete(bytes.subarray(from, i + 1));
        if (!problem && phase === 'inItem' && base + i + 1 - itemStart > opts.maxItemBytes) stop('BATCH_ITEM_TOO_LARGE', itemStart + opts.maxItemBytes);
        continue;
      }
      if (isSpace(c)) continue;
      started = true;
      const at = base + i;
      if (phase === 'before') {
        if (c !== OPEN_ARRAY) return stop('BATCH_NOT_ARRAY', at);
        phase = 'expectItem';
      } else if (phase === 'expectItem') {
        if (arrayMode && c === CLOSE_ARRAY && !afterComma) phase = 'done';
        else if (c === COMMA || c === CLOSE_ARRAY || c === CLOSE_OBJECT || c === COLON) return stop('BODY_INVALID_JSON', at);
        else from = beginItem(c, at, i) ?? i;
      } else if (phase === 'afterItem' && arrayMode && c === COMMA) {
        [phase, afterComma] = ['expectItem', true];
        continue;
      } else if (phase === 'afterItem' && arrayMode && c === CLOSE_ARRAY) phase = 'done';
      // A value where a comma belongs begins the next item, which is what is broken: `[1 2]`.
      else return stop('BODY_INVALID_JSON', at, phase === 'afterItem' && arrayMode && c !== CLOSE_OBJECT && c !== COLON ? index + 1 : undefined);
      afterComma = false;
    }
    if (phase === 'inItem' && !problem) parts.push(bytes.subarray(from));
  }

  return {
    write(bytes) {
      if (!problem) scan(bytes);
      base += bytes.length;
      return problem;
    },
    end() {
      if (problem) return problem;
      if (phase === 'inItem' && scalar) complete(new Uint8Array(0));
      const finished = phase === 'done' || (!arrayMode && phase === 'afterItem');
      if (!problem && started && !finished) problem = { code: 'BODY_INVALID_JSON', offset: base, ended: true, ...(phase === 'inItem' ? { index } : {}) };
      else if (problem) (problem as StreamProblem).ended = true;
      else if (held) opts.onItem(held.value, index);
      held = undefined;
      return problem;
    },
  };
}
