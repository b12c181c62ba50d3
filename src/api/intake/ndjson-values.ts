// NDJSON read as it arrives: each non-blank line is one item with its own reader (json-values.ts),
// so a line that is not JSON, nests too deep or holds a forbidden key is that item's error (its
// index kept, the rest of the line discarded unread) and the other lines are still taken. Lines are
// counted as they begin: line API_BATCH_MAX + 1 stops the request before it is read.
import { MAX_JSON_DEPTH } from '../json-depth.ts';
import { createValueReader } from './json-scan.ts';
import type { StreamProblem, ValueReader } from './json-values.ts';

const NEWLINE = 0x0a;
const BLANK = new Set([0x20, 0x09, 0x0d]);

const LINE_ERRORS: Partial<Record<StreamProblem['code'], string>> = {
  BODY_INVALID_JSON: 'is not valid JSON',
  BODY_TOO_DEEP: `nests deeper than ${MAX_JSON_DEPTH} levels`,
  BODY_FORBIDDEN_KEY: 'holds a forbidden __proto__ or constructor.prototype key',
};

export type NdjsonOptions = {
  maxItems: number;
  maxItemBytes: number;
  onItem: (value: unknown, index: number) => void;
  onBadLine: (message: string, index: number) => void;
};

export function createNdjsonReader(opts: NdjsonOptions): ValueReader {
  let offset = 0; // of the first byte of the next chunk
  let index = -1;
  let line: ValueReader | undefined;
  let skipping = false; // the line is refused already: its rest is not read

  /** A line's own problem is its item's error; one that bounds the request (its size) stops it. */
  const lineProblem = (problem: StreamProblem): StreamProblem | undefined => {
    line = undefined;
    const message = LINE_ERRORS[problem.code];
    if (!message) return { ...problem, index };
    opts.onBadLine(message, index);
    skipping = true;
    return undefined;
  };
  const finishLine = (): StreamProblem | undefined => {
    const problem = line?.end();
    line = undefined;
    const stop = problem && !skipping ? lineProblem(problem) : undefined;
    skipping = false;
    return stop;
  };

  return {
    write(bytes) {
      for (let i = 0; i < bytes.length; ) {
        const newline = bytes.indexOf(NEWLINE, i);
        const end = newline === -1 ? bytes.length : newline;
        let start = i;
        if (!skipping && !line) {
          while (start < end && BLANK.has(bytes[start]!)) start++;
          if (start < end) {
            if (++index >= opts.maxItems) return { code: 'BATCH_TOO_LARGE', index, offset: offset + start };
            line = createValueReader({ mode: 'value', base: offset + start, maxItems: 1, maxItemBytes: opts.maxItemBytes, firstIndex: index, onItem: opts.onItem });
          }
        }
        if (!skipping && line && start < end) {
          const problem = line.write(bytes.subarray(start, end));
          const stop = problem ? lineProblem(problem) : undefined;
          if (stop) return stop;
        }
        if (newline !== -1) {
          const stop = finishLine();
          if (stop) return stop;
        }
        i = end + 1;
      }
      offset += bytes.length;
      return undefined;
    },
    end: () => finishLine(),
  };
}
