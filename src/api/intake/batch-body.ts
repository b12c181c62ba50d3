// The batch body, read from the request stream as it arrives (a content-type parser without
// `parseAs`): items are counted, bounded in depth and size and judged one by one as they complete
// (json-scan.ts, ndjson-values.ts), so a request holds its judged items and one item in progress,
// never the body's text or its whole tree. Nothing is enqueued before the body has ended well: a
// body found malformed at its last byte changes nothing.
import { getHeapStatistics } from 'node:v8';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { errorCodes, type FastifyRequest } from 'fastify';
import { AppError } from '../../shared/errors.ts';
import { MAX_JSON_DEPTH } from '../json-depth.ts';
import type { Problem } from '../problem.ts';
import { createValueReader } from './json-scan.ts';
import type { StreamProblem, ValueReader } from './json-values.ts';
import { createNdjsonReader } from './ndjson-values.ts';

export type BatchLimits = { bodyLimit: number; maxItems: number; maxItemBytes: number };
/** Judges each item as it completes; `done` gives what the route enqueues. */
export type ItemCollector<T> = { item(value: unknown, index: number): void; badLine(message: string, index: number): void; done(): T };
export type BatchBody<T> = { kind: 'items'; value: T; bytes: number } | { kind: 'refused'; problem: Problem; retryAfter?: number };

// Marks what this parser produced: a form body (formbody's parser) may hold the same keys.
const BRAND = Symbol('batch-body');
export const isBatchBody = <T>(body: unknown): body is BatchBody<T> => typeof body === 'object' && body !== null && BRAND in body;

/** Bodies read at once may together hold about a quarter of the heap (each at most its body limit): 8 at 128 MiB and the defaults. */
export function batchParseSlots(bodyLimit: number, heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.min(64, Math.max(1, Math.floor(heapLimit / 4 / bodyLimit)));
}

export function createSlots(size: number) {
  let used = 0;
  return { size, take: () => (used < size ? (used++, true) : false), release: () => void (used = Math.max(0, used - 1)), get used() { return used; } };
}
export type Slots = ReturnType<typeof createSlots>;

function describe(p: StreamProblem, limits: BatchLimits): Problem {
  const item = p.index === undefined ? '' : ` (item ${p.index})`;
  const detail = {
    BATCH_TOO_LARGE: `a batch holds at most ${limits.maxItems} patients; split it (item ${p.index} begins at byte ${p.offset}; nothing after it was read)`,
    BATCH_ITEM_TOO_LARGE: `item ${p.index} is larger than ${limits.maxItemBytes} bytes (seen at byte ${p.offset}); a patient is far smaller`,
    BODY_TOO_DEEP: `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels at byte ${p.offset}${item}`,
    BODY_INVALID_JSON: p.ended ? `the body ends at byte ${p.offset} before its JSON is complete${item}` : `the body is not valid JSON at byte ${p.offset}${item}`,
    BODY_FORBIDDEN_KEY: `the body holds a forbidden __proto__ or constructor.prototype key at byte ${p.offset}${item}`,
    BATCH_NOT_ARRAY: 'the body must be a JSON array of patients (or NDJSON, one patient per line)',
  }[p.code];
  const status = p.code === 'BATCH_TOO_LARGE' || p.code === 'BATCH_ITEM_TOO_LARGE' ? 413 : 400;
  return { type: `/docs#problem-${p.code.toLowerCase()}`, title: STATUS_CODES[status]!, status, detail, code: p.code, ...(p.index !== undefined ? { index: p.index } : {}), offset: p.offset };
}

const busy = (slots: Slots): Problem => ({
  type: '/docs#problem-batch_busy', title: STATUS_CODES[503]!, status: 503, code: 'BATCH_BUSY',
  detail: `this server is reading ${slots.size} batch bodies already; nothing was accepted, retry shortly`,
});

/**
 * The content-type parser. A refused body (too many items, an item too large or too deep, invalid
 * JSON, no free slot) is read to its end and discarded, never parsed or kept, so the client reads
 * the answer rather than a reset connection; a body past the body limit is cut off at once, as
 * Fastify does. A client that goes away frees its slot and everything read.
 */
export function batchBodyParser<T>(limits: BatchLimits, slots: Slots, collectorFor: (request: FastifyRequest) => ItemCollector<T>) {
  return (request: FastifyRequest, payload: IncomingMessage, done: (err: Error | null, body?: BatchBody<T>) => void): void => {
    if (Number(request.headers['content-length']) > limits.bodyLimit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    const ndjson = /ndjson/i.test(String(request.headers['content-type']));
    let reading = slots.take();
    let refused: BatchBody<T> | undefined = reading ? undefined : { kind: 'refused', problem: busy(slots), retryAfter: 1 };
    let collector: ItemCollector<T> | undefined;
    let reader: ValueReader | undefined;
    if (reading) {
      const c = (collector = collectorFor(request));
      reader = ndjson
        ? createNdjsonReader({ maxItems: limits.maxItems, maxItemBytes: limits.maxItemBytes, onItem: (v, i) => c.item(v, i), onBadLine: (m, i) => c.badLine(m, i) })
        : createValueReader({ mode: 'array', base: 0, maxItems: limits.maxItems, maxItemBytes: limits.maxItemBytes, onItem: (v, i) => c.item(v, i) });
    }
    let bytes = 0;
    let settled = false;
    /** Stops reading: the slot and every item read go at once, whatever comes next. */
    const stopReading = () => {
      if (reading) slots.release();
      reading = false;
      reader = undefined;
      collector = undefined;
    };
    const finish = (err: Error | null, body?: BatchBody<T>) => {
      if (settled) return;
      settled = true;
      stopReading();
      payload.removeListener('data', onData).removeListener('end', onEnd).removeListener('error', onGone).removeListener('close', onGone);
      done(err, body && Object.assign(body, { [BRAND]: true }));
    };
    const refuse = (problem: StreamProblem) => {
      refused = { kind: 'refused', problem: describe(problem, limits) };
      stopReading();
    };
    function onData(chunk: Buffer | string) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += data.length;
      if (bytes > limits.bodyLimit) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      const problem = reader?.write(data);
      if (problem) refuse(problem);
    }
    function onEnd() {
      const problem = reader?.end();
      if (problem) refuse(problem);
      if (refused) return finish(null, refused);
      finish(null, { kind: 'items', value: collector!.done(), bytes });
    }
    // An aborted request ends in 'error' or in 'close' without 'end' (after 'end', finish has removed these).
    function onGone() {
      finish(new AppError('BODY_ABORTED', 400, 'the client went away before the body was complete'));
    }
    payload.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
    payload.resume();
  };
}
