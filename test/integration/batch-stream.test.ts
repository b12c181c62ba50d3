import { connect, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { batchParseSlots } from '../../src/api/intake/batch-body.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { freePort } from '../support/local-servers.ts';
import { startProcess, waitForOutput } from '../support/processes.ts';
import { until } from '../support/records.ts';

// Batch bodies are read as a stream (issue 22, item 1): items are counted, bounded in depth and size
// and judged as they arrive, so a refusal comes at the item that breaks a bound, names it and where
// it is, and nothing of the body is enqueued; the rest of the body is never parsed.

const MAX = 100;
const item = (id: number) => JSON.stringify({ ...SEED_SAMPLE, id });
const array = (ids: number[]) => `[${ids.map(item).join(',')}]`;
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const byteAt = (body: string, part: string) => Buffer.byteLength(body.slice(0, body.indexOf(part)));
// The review's body: 4 MB of nested arrays.
const REVIEW_LEVELS = 2_047_980;
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

let h: Harness;
let defaults: Harness; // API_BATCH_MAX 1000: the body limit (4 MB) lets the review's body in
beforeAll(async () => {
  h = await createHarness({ API_BATCH_MAX: String(MAX) });
  defaults = await createHarness();
});
afterAll(async () => {
  await h.close();
  await defaults.close();
});

const jobCount = () => h.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
const postBatch = (payload: string | PassThrough, type = 'application/json', app = h.app) =>
  app.inject({ method: 'POST', url: '/api/patients/batch', headers: { 'content-type': type }, payload });

describe('batch bodies are bounded while they are read', () => {
  it('when the review\'s 4 MB nested array comes as the array, as an object wrapping it, or as one NDJSON line, then 4xx naming where, and nothing is enqueued', async () => {
    const before = await defaults.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
    const direct = await postBatch(nested(REVIEW_LEVELS), 'application/json', defaults.app);
    expect(direct.statusCode).toBe(400);
    expect(direct.json()).toMatchObject({ code: 'BODY_TOO_DEEP', index: 0, offset: 32 });
    const wrapped = await postBatch(`{"patients":${nested(REVIEW_LEVELS - 8)}}`, 'application/json', defaults.app);
    expect(wrapped.statusCode).toBe(400);
    expect(wrapped.json()).toMatchObject({ code: 'BATCH_NOT_ARRAY', offset: 0 });
    const line = await postBatch(nested(REVIEW_LEVELS), 'application/x-ndjson', defaults.app);
    expect(line.statusCode).toBe(400);
    expect(line.json().results).toEqual([{ index: 0, errors: [{ path: '(line)', message: 'nests deeper than 32 levels' }] }]);
    expect(await defaults.queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed')).toBe(before);
  });

  it('when a batch has API_BATCH_MAX + 1 items followed by text that is not JSON, then 413 at item API_BATCH_MAX: the tail is never parsed', async () => {
    const before = await jobCount();
    const body = `${array(range(61000, MAX + 1)).slice(0, -1)}, this is not JSON {{{`;
    const res = await postBatch(body);
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'BATCH_TOO_LARGE', index: MAX, offset: byteAt(body, item(61000 + MAX)) });
    const lines = await postBatch(`${range(61200, MAX + 1).map(item).join('\n')}\n{not json`, 'application/x-ndjson');
    expect([lines.statusCode, lines.json().code, lines.json().index]).toEqual([413, 'BATCH_TOO_LARGE', MAX]);
    expect(await jobCount()).toBe(before);
  });

  it('when one item is larger than the item bound (64 KiB), then 413 naming that item, and none of the batch is enqueued', async () => {
    const before = await jobCount();
    const huge = JSON.stringify({ ...SEED_SAMPLE, id: 62001, unknown_extra: 'x'.repeat(70_000) });
    const body = `[${item(62000)},${huge},${item(62002)}]`;
    const res = await postBatch(body);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'BATCH_ITEM_TOO_LARGE', index: 1 });
    expect(res.json().detail).toMatch(/item 1 is larger than 65536 bytes/);
    const lines = await postBatch([item(62003), huge].join('\n'), 'application/x-ndjson');
    expect([lines.statusCode, lines.json().code, lines.json().index]).toEqual([413, 'BATCH_ITEM_TOO_LARGE', 1]);
    expect(await jobCount()).toBe(before);
  });

  it('when the body turns out not to be JSON after valid items, or ends early, then 400 with the byte and the item, and none of its items is enqueued', async () => {
    const before = await jobCount();
    const body = `[${item(63000)},${item(63001)},{"id": 63002, "isactive": tru}]`;
    const bad = await postBatch(body);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'BODY_INVALID_JSON', index: 2, offset: byteAt(body, '}]') });
    const cut = await postBatch(`[${item(63003)},${item(63004)}`);
    expect(cut.statusCode).toBe(400);
    expect(cut.json()).toMatchObject({ code: 'BODY_INVALID_JSON' });
    expect(cut.json().detail).toMatch(/ends at byte \d+ before its JSON is complete/);
    const poisoned = await postBatch(`[${item(63005)},{"id":63006,"__proto__":{"id":1}}]`);
    expect(poisoned.json()).toMatchObject({ status: 400, code: 'BODY_FORBIDDEN_KEY', index: 1 });
    expect(await jobCount()).toBe(before);
  });

  it('when a normal batch comes as JSON (with whitespace), text/json or NDJSON, then each item is taken as before; a form body or an empty array is still refused', async () => {
    const json = await postBatch(` \n${array([64000, 64001]).replace(',', ' ,\n ')}\n`);
    expect(json.statusCode).toBe(202);
    expect(json.json()).toMatchObject({ accepted: 2, rejected: 0, results: [{ index: 0, jobId: expect.any(String) }, { index: 1 }] });
    const text = await postBatch(`[${item(64002)},{"id":"x"}]`, 'text/json');
    expect(text.json()).toMatchObject({ accepted: 1, rejected: 1, results: [{ index: 0 }, { index: 1, errors: [{ path: 'id' }] }] });
    const lines = await postBatch(`${item(64003)}\r\n\n  \n${item(64004)}`, 'application/x-ndjson');
    expect(lines.json()).toMatchObject({ accepted: 2, rejected: 0, results: [{ index: 0 }, { index: 1 }] });
    expect((await postBatch('[]')).json()).toMatchObject({ status: 400, code: 'BATCH_EMPTY' });
    expect((await postBatch('id=1', 'application/x-www-form-urlencoded')).json()).toMatchObject({ status: 400, code: 'BATCH_NOT_ARRAY' });
  });
});

describe('how many batch bodies are read at once', () => {
  it('when every parse slot holds a body still arriving, then another batch answers 503 with Retry-After; a client that goes away frees its slot, and a held body that ends is taken', async () => {
    const slots = batchParseSlots(Math.max(h.config.API_BODY_LIMIT_BYTES, MAX * 4096));
    const held = Array.from({ length: slots }, () => new PassThrough());
    const answers = held.map((stream) => postBatch(stream).catch((err: unknown) => err));
    held.forEach((stream, i) => stream.write(`[${item(65000 + i)},`));
    // A probe that enqueues nothing whatever happens: 400 while a slot is free, 503 once all are held.
    const probe = () => postBatch('[{"id":"x"}]');
    let last = 0;
    await until('every slot held', 20_000, async () => (last = (await probe()).statusCode) === 503, 20, async () => last);
    const busy = await probe();
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toMatchObject({ code: 'BATCH_BUSY' });

    held[0]!.destroy(new Error('the client went away'));
    await until('the slot freed', 20_000, async () => (last = (await probe()).statusCode) === 400, 20, async () => last);

    held[1]!.end(`${item(65100)}]`);
    expect((await answers[1]) as { statusCode: number }).toMatchObject({ statusCode: 202 });
    for (const stream of held.slice(2)) stream.end(']');
    await Promise.all(answers);
  });
});

describe('the API process under the production heap limit', () => {
  it('when the review\'s bodies and clients that leave mid-body hit a real API process, then it answers each, stays up, and takes the next batch', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const api = startProcess('api', {
      REDIS_URL: inject('redisUrl'), MONGO_URL: inject('mongoUrl'), MONGO_DB: 'batch_stream', QUEUE_NAME: 'batch-stream', API_PORT: String(port), AUTH_DEV_MODE: 'true',
      NODE_OPTIONS: '--max-old-space-size=128 --max-semi-space-size=4', // the Dockerfile's heap
    });
    try {
      await waitForOutput(api, /Server listening/);
      const url = `http://127.0.0.1:${port}`;
      const send = (body: string, type = 'application/json') => fetch(`${url}/api/patients/batch`, { method: 'POST', headers: { 'content-type': type }, body });
      for (const [body, type] of [[nested(REVIEW_LEVELS), 'application/json'], [`{"patients":${nested(REVIEW_LEVELS - 8)}}`, 'application/json'], [nested(REVIEW_LEVELS), 'application/x-ndjson']] as const) {
        const res = await send(body, type);
        expect(res.status, api.output().slice(-2000)).toBe(400);
        await res.arrayBuffer();
      }
      // More clients stopping mid-body than there are slots: once they hold every slot, a batch gets
      // 503; once they leave, each gives its slot back.
      const sockets = await Promise.all(range(0, 70).map((i) => new Promise<Socket>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(`POST /api/patients/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n[${item(66000 + i)},`, () => resolve(socket));
        }).on('error', reject);
      })));
      const probe = async () => {
        const res = await send('[{"id":"x"}]'); // enqueues nothing: 400 with a free slot, else 503
        await res.arrayBuffer();
        return res.status;
      };
      let status = 0;
      await until('every slot held by a client mid-body', 30_000, async () => (status = await probe()) === 503, 50, async () => status);
      for (const socket of sockets) socket.destroy();
      await until('the slots given back', 30_000, async () => (status = await probe()) === 400, 50, async () => status);
      expect((await send(array([66100]))).status).toBe(202);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      expect(api.child.exitCode).toBeNull();
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  });
});
