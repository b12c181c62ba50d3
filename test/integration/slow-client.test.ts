import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { closedWithin, rawClient, receivedWithin, trickle, type RawClient } from '../support/sockets.ts';

// Real sockets against a listening API: a client that sends its request one byte at a time, or
// holds connections open, must not keep them beyond the configured bounds.
const writer = makeKey('center-3-writer', 'patients:write', 'centers=3');
const REQUEST_TIMEOUT_MS = 1000;
// The bound plus Node's once-a-second check, with generous room for a loaded machine.
const CLOSE_BOUND_MS = 15_000;

let h: Harness;
let base: string;
const open: RawClient[] = [];
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer), API_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), API_MAX_CONNECTIONS: '3' });
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  for (const c of open) c.socket.destroy();
  await h.close();
});

const client = async () => {
  const c = await rawClient(base);
  open.push(c);
  return c;
};
const head = (headers: Record<string, string>) =>
  `POST /api/patients HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

describe('slow clients', () => {
  for (const [what, headers] of [['with a valid key', bearer(writer)], ['without a key', {}]] as const) {
    it(`when a POST ${what} announces 100 bytes and trickles them, then the server closes the socket`, async () => {
      const c = await client();
      c.socket.write(head(headers));
      const t = trickle(c, 200);
      try {
        await closedWithin(c, CLOSE_BOUND_MS, t.sent);
      } finally {
        t.stop();
      }
      expect(t.sent()).toBeLessThan(100); // closed before the body was complete
    });
  }

  it('when the request headers themselves trickle in, then the server closes the socket', async () => {
    const c = await client();
    c.socket.write('GET /health/live HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    const t = trickle(c, 200);
    try {
      await closedWithin(c, CLOSE_BOUND_MS, t.sent);
    } finally {
      t.stop();
    }
  });
});

describe('connection cap', () => {
  it('when more connections than API_MAX_CONNECTIONS are open, then the extra one is closed at once and the others still work', async () => {
    const held = [await client(), await client(), await client()];
    const extra = await client();
    await closedWithin(extra, CLOSE_BOUND_MS, () => 0);
    expect(extra.received()).toBe('');
    const first = held[0]!;
    first.socket.write('GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n');
    await receivedWithin(first, /"status":"ok"/, CLOSE_BOUND_MS);
    expect(first.received()).toMatch(/^HTTP\/1\.1 200/);
  });
});
