// Raw TCP clients for what HTTP libraries will not do: send a request slowly, or hold a connection idle.
import { connect, type Socket } from 'node:net';

export type RawClient = { socket: Socket; received: () => string; closed: Promise<void>; isClosed: () => boolean };

export async function rawClient(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = '';
  let done = false;
  socket.on('data', (chunk) => (data += chunk.toString()));
  socket.on('error', () => {}); // a reset by the server is one way of being closed
  const closed = new Promise<void>((resolve) => socket.once('close', () => ((done = true), resolve())));
  return { socket, received: () => data, closed, isClosed: () => done };
}

/** Waits for the server to close the socket; fails after `timeoutMs` saying what the client saw. */
export async function closedWithin(client: RawClient, timeoutMs: number, sent: () => number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms: ${sent()} byte(s) sent, received ${JSON.stringify(client.received().slice(0, 200))}`)), timeoutMs);
  });
  try {
    await Promise.race([client.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `bytes` one at a time, `everyMs` apart, until stopped or the socket closes. */
export function trickle(client: RawClient, everyMs: number): { sent: () => number; stop: () => void } {
  let sent = 0;
  const timer = setInterval(() => {
    if (client.isClosed()) return clearInterval(timer);
    client.socket.write('1');
    sent++;
  }, everyMs);
  return { sent: () => sent, stop: () => clearInterval(timer) };
}

/** Polls until the client has received text matching `pattern`; fails with what it had. */
export async function receivedWithin(client: RawClient, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(client.received())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms; received ${JSON.stringify(client.received().slice(0, 200))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
