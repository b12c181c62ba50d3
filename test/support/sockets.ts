// Raw TCP clients for what HTTP libraries will not do: send a request slowly, or hold a connection idle.
import { connect, type Socket } from 'node:net';
import { until } from './records.ts';

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
  await until('the server to close the socket', timeoutMs, async () => client.isClosed(), 20, async () => ({ bytesSent: sent(), received: client.received().slice(0, 200) }));
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
  await until(`${pattern} received`, timeoutMs, async () => pattern.test(client.received()), 20, async () => client.received().slice(0, 200));
}
