import { describe, expect, it } from 'vitest';
import { createValueReader } from '../../src/api/intake/json-scan.ts';
import { createTokenReader, type StreamProblem } from '../../src/api/intake/json-values.ts';
import { createNdjsonReader } from '../../src/api/intake/ndjson-values.ts';
import { nestedTooDeep } from '../../src/api/json-depth.ts';

// The stream readers behind POST /api/patients/batch (src/api/intake/json-scan.ts, json-values.ts): the same items
// as JSON.parse whatever the chunks (a socket splits anywhere, inside a token or a UTF-8 character),
// and the same nesting bound as the single-patient parser (json-depth.ts).

const items = [
  { id: 1, fullname: 'สมชาย ใจดี', hn: 'a "quoted" \\ back\nslash', note: [1, [2, { x: null }]], ok: true },
  { id: 2, fullname: '🏥 \u00e9', n: -1.5e3 },
  'not an object',
  42,
];

function readArray(body: Buffer, chunk: number, limits = { maxItems: 100, maxItemBytes: 64 * 1024 }) {
  const got: [number, unknown][] = [];
  const reader = createValueReader({ mode: 'array', base: 0, ...limits, onItem: (v, i) => got.push([i, v]) });
  let problem: StreamProblem | undefined;
  for (let i = 0; i < body.length && !problem; i += chunk) problem = reader.write(body.subarray(i, i + chunk));
  return { got, problem: problem ?? reader.end() };
}

describe('the batch body readers', () => {
  it('when a JSON array arrives in chunks of any size, then its items are what JSON.parse gives, by index', () => {
    const body = Buffer.from(` [ ${items.map((i) => JSON.stringify(i)).join(' ,\n')} ] \n`);
    for (const chunk of [1, 2, 3, 7, 64, body.length]) {
      expect(readArray(body, chunk)).toEqual({ got: items.map((v, i) => [i, v]), problem: undefined });
    }
  });

  it('when NDJSON arrives in chunks of any size, then each line is its item and a broken line is only that item\'s error', () => {
    const body = Buffer.from([JSON.stringify(items[0]), '', '{"id": 2,', '  \r', JSON.stringify(items[1]), `${'['.repeat(40)}${']'.repeat(40)}`, '{"id":3} {"id":4}'].join('\n'));
    for (const chunk of [1, 5, body.length]) {
      const got: unknown[] = [];
      const reader = createNdjsonReader({ maxItems: 10, maxItemBytes: 1024, onItem: (v, i) => got.push([i, v]), onBadLine: (m, i) => got.push([i, m]) });
      for (let i = 0; i < body.length; i += chunk) expect(reader.write(body.subarray(i, i + chunk))).toBeUndefined();
      expect(reader.end()).toBeUndefined();
      expect(got).toEqual([[0, items[0]], [1, 'is not valid JSON'], [2, items[1]], [3, 'nests deeper than 32 levels'], [4, 'is not valid JSON']]);
    }
  });

  it('when bodies nest around the bound, then the reader refuses exactly what nestedTooDeep refuses', () => {
    for (const levels of [31, 32, 33, 34]) {
      const text = `[${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}]`;
      const { problem } = readArray(Buffer.from(text), 5);
      expect([levels, problem?.code]).toEqual([levels, nestedTooDeep(text) ? 'BODY_TOO_DEEP' : undefined]);
    }
  });

  it('when the bounds are reached, then the reader stops at the item that breaks them and names it', () => {
    const many = Buffer.from(`[${'{"id":1},'.repeat(3)}{"id":1}, garbage`);
    expect(readArray(many, 4, { maxItems: 3, maxItemBytes: 100 }).problem).toEqual({ code: 'BATCH_TOO_LARGE', index: 3, offset: 28 });
    // One string token longer than the bound is stopped within a piece, before it is complete.
    const long = Buffer.concat([Buffer.from('[{"id":1},{"x":"'), Buffer.alloc(200_000, 'a')]);
    expect(readArray(long, long.length, { maxItems: 3, maxItemBytes: 1000 }).problem).toMatchObject({ code: 'BATCH_ITEM_TOO_LARGE', index: 1 });
    const bare = Buffer.concat([Buffer.from('[{"id":1}, "'), Buffer.alloc(200_000, 'a')]);
    expect(readArray(bare, bare.length, { maxItems: 3, maxItemBytes: 1000 }).problem).toMatchObject({ code: 'BATCH_ITEM_TOO_LARGE', index: 1 });
    const number = Buffer.concat([Buffer.from('[1'), Buffer.alloc(200_000, '1')]);
    expect(readArray(number, 4096, { maxItems: 3, maxItemBytes: 1000 }).problem).toMatchObject({ code: 'BATCH_ITEM_TOO_LARGE', index: 0 });
    expect(readArray(Buffer.from('[{"id":1},{"a":{"constructor":{"prototype":1}}}]'), 3).problem).toMatchObject({ code: 'BODY_FORBIDDEN_KEY', index: 1 });
    expect(readArray(Buffer.from('[{"constructor":1,"prototype":2}]'), 3).problem).toBeUndefined();
  });
});

describe('the fast reader against the token reader (issue 24)', () => {
  // Bodies valid and broken in every way the structure scan must tell apart; each is read in several
  // chunkings by both readers, which must agree on the items and on the problem (code, item, byte).
  const item = JSON.stringify(items[0]);
  const bodies = [
    `[${items.map((i) => JSON.stringify(i)).join(',')}]`, '[]', ' [ ] ', '[1,2,3]', '["a","b\\"","c"]', '[true,false,null,-0.5e-3]',
    `[${item},${item}`, `[${item},]`, `[,${item}]`, `[${item} ${item}]`, `[${item}] x`, `{"patients":[${item}]}`, '[1 2]', '[tru]', '[{"a":tru}]',
    `[${item},{"id": 3, "isactive": tru}]`, '[{"a":1}}', '[{"a":1]', '[{"a" 1}]', '[{"a":"\\u00e9\\n"}]', '[{"a":"raw\nnewline"}]', '[{"a":"x\\u12"}]', '[{"a":"\\q"}]',
    '[{"__proto__":{"x":1}}]', '[{"a":{"constructor":{"prototype":1}}}]', '[{"constructor":1,"prototype":2}]', '[{"_\\u005fproto__":1}]',
    `[${'['.repeat(31)}${']'.repeat(31)}]`, `[${'['.repeat(32)}${']'.repeat(32)}]`, `[{"a":${'['.repeat(40)}`, '["a\\u0000"]', '["raw\u0001control"]',
    '[1]\n', '[-]', '[1.]', '[{"a":1,}]', '[{,"a":1}]', '["\\ud83c\\udfe5"]', '["\ud83c\udfe5 ไทย"]', '[[1,[2,[3]]],{"k":[{}]}]', '["a\\\\"]', '["a\\\\\\"b"]',
  ];
  const read = (make: typeof createValueReader, body: Buffer, chunk: number, limits = { maxItems: 5, maxItemBytes: 400 }) => {
    const got: [number, unknown][] = [];
    const reader = make({ mode: 'array', base: 0, ...limits, onItem: (v, i) => got.push([i, v]) });
    let problem: StreamProblem | undefined;
    for (let i = 0; i < body.length && !problem; i += chunk) problem = reader.write(body.subarray(i, i + chunk));
    problem ??= reader.end();
    return { got: problem ? 'refused' : got, problem };
  };
  /** Items and the problem's code and byte alike; its item too wherever the token reader names one. */
  const agree = (fast: ReturnType<typeof read>, token: ReturnType<typeof read>) => {
    expect({ got: fast.got, code: fast.problem?.code, offset: fast.problem?.offset }).toEqual({ got: token.got, code: token.problem?.code, offset: token.problem?.offset });
    if (token.problem?.index !== undefined) expect(fast.problem?.index).toBe(token.problem.index);
  };

  it.each(bodies)('when %s is read in chunks of 1, 3 and all, then both readers agree on the items and the problem', (text) => {
    const body = Buffer.from(text);
    for (const chunk of [1, 3, body.length || 1]) agree(read(createValueReader, body, chunk), read(createTokenReader, body, chunk));
  });

  it('when bodies break a bound (items, item size, depth), then both readers refuse the same item with the same code', () => {
    const five = `[${Array.from({ length: 6 }, () => '{"id":1}').join(',')}]`;
    const big = `[{"id":1},{"x":"${'a'.repeat(1000)}"}]`;
    const bigNumber = `[1${'1'.repeat(1000)}]`;
    const refusal = (text: string, chunk: number, make: typeof createValueReader) => {
      const { code, index } = read(make, Buffer.from(text), chunk).problem ?? {};
      return { code, index };
    };
    for (const text of [five, big, bigNumber]) for (const chunk of [7, 500]) expect(refusal(text, chunk, createValueReader)).toEqual(refusal(text, chunk, createTokenReader));
    // In one chunk the token reader lets a 1,001-digit number through (its bound is checked between pieces); the scan does not.
    expect(refusal(bigNumber, bigNumber.length, createValueReader)).toEqual({ code: 'BATCH_ITEM_TOO_LARGE', index: 0 });
  });

  it('when an item is a number with a leading zero, then the scan refuses it as that item (the token reader reads 0 and then a new item 1)', () => {
    expect(read(createValueReader, Buffer.from('[01]'), 2).problem).toMatchObject({ code: 'BODY_INVALID_JSON', index: 0, offset: 2 });
  });
});
