import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttp, TimeoutError } from '../../src/import/http.ts';

// The import command's HTTP against a real local HTTP server (node:http, no service involved).
let server: Server | undefined;
const http = createHttp();

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  http.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe('import HTTP', () => {
  it('when a request has a body, then the server gets it whole with its length and headers, and the answer carries status, Retry-After and body', async () => {
    let seen: { method?: string; type?: string; length?: string; body: string } = { body: '' };
    const url = await serve(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      seen = { method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body };
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'application/json' }).end('{"title":"ผู้ป่วย"}');
    });
    const body = '{"fullname":"สมชาย"}\n{"id":2}';
    const answer = await http.request(`${url}/api/patients/batch`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body }, 5000);
    expect(seen).toEqual({ method: 'POST', type: 'application/x-ndjson', length: String(Buffer.byteLength(body)), body });
    expect(answer).toEqual({ status: 503, retryAfter: '7', body: '{"title":"ผู้ป่วย"}' });
  });

  it('when the server accepts the request but never answers, then the request fails with a TimeoutError after its bound', async () => {
    const url = await serve(() => {}); // holds every request
    await expect(http.request(`${url}/docs/json`, { headers: {} }, 200)).rejects.toBeInstanceOf(TimeoutError);
  });

  it('when the connection drops in the middle of the answer, then the request fails with ECONNRESET and leaves no timer behind (the process can exit)', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' }).write('{"half":');
      setImmediate(() => res.socket?.destroy());
    });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // only the module's own bound is faked
    try {
      await expect(http.request(`${url}/docs/json`, { headers: {} }, 120_000)).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when nothing listens on the port, then the request fails with the network error code', async () => {
    const url = await serve(() => {});
    await new Promise((r) => server!.close(r));
    await expect(http.request(`${url}/docs/json`, { headers: {} }, 5000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
