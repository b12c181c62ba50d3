// A TCP proxy between a worker and the MongoDB-protocol server that can fail in real ways: it reads
// the wire protocol (OP_MSG) and, for chosen commands, cuts the connection instead of forwarding
// them (the write never reaches the server, the driver sees a network error), refuses every
// connection for a while, or holds every request unanswered (a server that hangs). And a plain TCP
// proxy for any other server (Redis) that can hold the server's replies back (a server too slow).
import { connect, createServer, type Socket } from 'node:net';
import { freePort } from './local-servers.ts';

const OP_MSG = 2013;
const BSON_STRING = 0x02;

/** The command of one OP_MSG: its first field's name (`update`) and, if a string, its value (`patients`). */
export type WireCommand = { name: string; collection: string | undefined };

export type MongoProxy = {
  readonly url: string;
  /** Cuts the connection instead of forwarding each of the next `n` commands that match. */
  cutNext: (n: number, match: (cmd: WireCommand) => boolean) => void;
  /** How many commands were cut so far. */
  cuts: () => number;
  /** While on, every connection is closed at once and new ones are dropped. */
  refuse: (on: boolean) => void;
  /** While on, matching commands (by default every request, handshakes too) wait unanswered; off sends what waited. */
  hold: (on: boolean, match?: (cmd: WireCommand) => boolean) => void;
  /** How many commands wait unanswered now. */
  held: () => number;
  /** While on, matching commands reach the server (and are applied) but their replies are dropped: applied, never answered. */
  dropReplies: (on: boolean, match?: (cmd: WireCommand) => boolean) => void;
  /** How many replies were dropped so far. */
  dropped: () => number;
  close: () => Promise<void>;
};

export function readCommand(frame: Buffer): WireCommand | undefined {
  if (frame.length < 27 || frame.readInt32LE(12) !== OP_MSG || frame[20] !== 0) return undefined;
  const doc = 21;
  const type = frame[doc + 4];
  const nameEnd = frame.indexOf(0, doc + 5);
  if (nameEnd < 0) return undefined;
  const name = frame.toString('utf8', doc + 5, nameEnd);
  if (type !== BSON_STRING) return { name, collection: undefined };
  const length = frame.readInt32LE(nameEnd + 1);
  return { name, collection: frame.toString('utf8', nameEnd + 5, nameEnd + 5 + length - 1) };
}

export async function startMongoProxy(targetUrl: string): Promise<MongoProxy> {
  const target = new URL(targetUrl);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let refusing = false;
  let cutsLeft = 0;
  let cut = 0;
  let matcher: (cmd: WireCommand) => boolean = () => false;
  let holding: ((cmd: WireCommand | undefined) => boolean) | undefined;
  const held: { upstream: Socket; frame: Buffer }[] = [];
  let dropping: ((cmd: WireCommand) => boolean) | undefined;
  let droppedReplies = 0;

  const server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = pair(client, connect(Number(target.port), target.hostname), sockets);
    // Requests whose reply is to be dropped, by requestID (a reply names it in responseTo).
    const unanswered = new Set<number>();
    let replies = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      replies = Buffer.concat([replies, chunk]);
      while (replies.length >= 16 && replies.length >= replies.readInt32LE(0)) {
        const frame = replies.subarray(0, replies.readInt32LE(0));
        replies = replies.subarray(frame.length);
        if (unanswered.delete(frame.readInt32LE(8))) droppedReplies++;
        else client.write(frame);
      }
    });
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const frame = pending.subarray(0, pending.readInt32LE(0));
        pending = pending.subarray(frame.length);
        const command = readCommand(frame);
        if (command && cutsLeft > 0 && matcher(command)) {
          cutsLeft--;
          cut++;
          return void client.destroy(); // and with it the upstream (pair)
        }
        if (command && dropping?.(command)) unanswered.add(frame.readInt32LE(4));
        if (holding?.(command)) held.push({ upstream, frame });
        else upstream.write(frame);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    // The target's options stay (the testcontainers path connects with `directConnection=true`: without
    // it the driver would follow the member's own address around the proxy).
    url: `mongodb://127.0.0.1:${port}/${target.search}`,
    cutNext(n, match) {
      cutsLeft = n;
      matcher = match;
    },
    cuts: () => cut,
    refuse(on) {
      refusing = on;
      if (on) for (const s of sockets) s.destroy();
    },
    hold(on, match) {
      holding = !on ? undefined : match ? (cmd) => cmd !== undefined && match(cmd) : () => true;
      if (!on) for (const { upstream, frame } of held.splice(0)) if (!upstream.destroyed) upstream.write(frame);
    },
    held: () => held.length,
    dropReplies(on, match = () => true) {
      dropping = on ? match : undefined;
    },
    dropped: () => droppedReplies,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type TcpProxy = {
  readonly url: string;
  /** While on, the server's replies are kept back (requests still reach it): a server slower than any bound; off sends them. */
  holdReplies: (on: boolean) => void;
  close: () => Promise<void>;
};

/** A plain TCP proxy in front of any server (`redis://host:port`): the URL it gives has the same scheme. */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let holding = false;
  const held: { client: Socket; chunk: Buffer }[] = [];
  const server = createServer((client) => {
    const upstream = pair(client, connect(Number(target.port), target.hostname), sockets);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => (holding ? held.push({ client, chunk }) : client.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `${target.protocol}//127.0.0.1:${port}`,
    holdReplies(on) {
      holding = on;
      if (!on) for (const { client, chunk } of held.splice(0)) if (!client.destroyed) client.write(chunk);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Ties a client to its upstream: tracked while open, and either side's end or error closes both. */
function pair(client: Socket, upstream: Socket, sockets: Set<Socket>): Socket {
  const end = () => {
    client.destroy();
    upstream.destroy();
    sockets.delete(client);
    sockets.delete(upstream);
  };
  sockets.add(client).add(upstream);
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  return upstream;
}

export type RedisLinkProxy = {
  readonly port: number;
  /**
   * While on, what the node sends down its replication links (the connections that sent REPLCONF:
   * a replica syncing from this node) is kept back: the replica lags, the node's clients do not.
   * Off sends it. What is kept back when the node dies is lost with the connection, as a replica's
   * unreceived stream is lost with a master that dies.
   */
  holdReplication: (on: boolean) => void;
  /** Bytes of the replication stream kept back now. */
  heldBytes: () => number;
  close: () => Promise<void>;
};

/** A Redis node's announced address (cluster-announce-port): clients and replicas reach it through here. */
export async function startRedisLinkProxy(targetPort: number): Promise<RedisLinkProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let holding = false;
  const links = new Map<Socket, Buffer[]>();
  const server = createServer((client) => {
    const upstream = pair(client, connect(targetPort, '127.0.0.1'), sockets);
    let replica = false;
    client.on('data', (chunk: Buffer) => {
      // Clients never send REPLCONF; a replica sends it before PSYNC.
      if (!replica && /REPLCONF/i.test(chunk.toString('latin1'))) (replica = true), links.set(client, []);
      upstream.write(chunk);
    });
    client.on('close', () => links.delete(client));
    upstream.on('data', (chunk: Buffer) => {
      const kept = links.get(client);
      if (holding && kept) kept.push(chunk);
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    holdReplication(on) {
      holding = on;
      if (!on) for (const [client, kept] of links) for (const chunk of kept.splice(0)) if (!client.destroyed) client.write(chunk);
    },
    heldBytes: () => [...links.values()].reduce((sum, kept) => sum + kept.reduce((s, c) => s + c.length, 0), 0),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
