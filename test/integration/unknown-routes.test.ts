import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';

// A route nobody serves answers 404 before its body is read or parsed (issue 22: four anonymous
// loops posting 1 MiB nested bodies to unknown paths slowed a legitimate GET twentyfold). Every 404
// carries Cache-Control: no-store, under /api and elsewhere.
const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer), API_BODY_LIMIT_BYTES: '4096' });
});
afterAll(() => h.close());

describe('unknown routes', () => {
  it('when broken JSON is posted to an unknown route, then 404 problem+json with no-store, and no body parser ran', async () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      for (const url of ['/nonexistent', '/api/nonexistent']) {
        const res = await h.app.inject({ method: 'POST', url, payload: '{"broken": [[[', headers: { 'content-type': 'application/json' } });
        expect(res.statusCode).toBe(404);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.json()).toMatchObject({ status: 404, title: 'Not Found' });
      }
      // Before the fix the JSON parser ran on the body (and answered 400); only res.json() parses now.
      expect(parse.mock.calls.filter(([text]) => String(text).includes('broken'))).toEqual([]);
    } finally {
      parse.mockRestore();
    }
  });

  it('when a body larger than API_BODY_LIMIT_BYTES goes to an unknown route, then 404 (not 413) and the connection closes instead of reading it', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/nowhere', payload: `[${'1,'.repeat(10_000)}1]`, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers.connection).toBe('close');
    expect(res.headers['cache-control']).toBe('no-store');
    // A small body to a mistyped path keeps its connection; helmet's headers are on the 404 too.
    const small = await h.app.inject({ method: 'POST', url: '/api/patient', payload: '{}', headers: { 'content-type': 'application/json' } });
    expect(small.statusCode).toBe(404);
    expect(small.headers.connection).not.toBe('close');
    expect(small.headers['x-content-type-options']).toBe('nosniff');
  });

  it('when a client on a real socket announces 10 MiB to an unknown route and sends 1 KiB of it, then it gets the 404 and the server closes the connection without waiting for the rest', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = h.app.server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`POST /api/elsewhere HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${10 * 2 ** 20}\r\n\r\n[${'['.repeat(1023)}`);
    await closed; // the rest of the announced body is never sent
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toMatch(/\r\ncache-control: no-store\r\n/i);
  });

  it('when a GET goes to an unknown /api path or a known route answers 404, then both carry no-store; a known path under another method is still 405', async () => {
    const unknown = await h.app.inject({ method: 'GET', url: '/api/patients/1/history', headers: bearer(writer) });
    const missing = await h.app.inject({ method: 'GET', url: '/api/patients/999', headers: bearer(writer) });
    const elsewhere = await h.app.inject({ method: 'GET', url: '/favicon.ico' });
    expect([unknown, missing, elsewhere].map((r) => [r.statusCode, r.headers['cache-control']])).toEqual([[404, 'no-store'], [404, 'no-store'], [404, 'no-store']]);
    const wrongMethod = await h.app.inject({ method: 'DELETE', url: '/api/patients', payload: '{"broken"', headers: { 'content-type': 'application/json' } });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toMatch(/POST/);
  });
});
