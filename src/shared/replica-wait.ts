import type { Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import { AppError, withTimeout } from './errors.ts';

// REDIS_WAIT_REPLICAS: Redis replicates asynchronously, so a job a master acknowledged can vanish
// when that master fails over before a replica had it. WAIT k blocks the connection that wrote the
// job until k replicas confirm everything it wrote so far; the 202 waits for it. On a cluster, WAIT
// must go over the connection to the master that owns the queue's slot (it wrote the job).
//
// WAIT counts the writes of ITS connection: one sent over another connection (a reconnect, a new
// master after a failover) would confirm nothing, so the connection is noted before the write and
// must be the same after it. And one WAIT covers every write sent before it on the connection:
// requests that come while one is out share the next one, so a busy API sends one WAIT per round
// trip per master instead of one per job (a WAIT also holds up the connection's later commands).

export class ReplicasUnconfirmedError extends AppError {
  constructor() {
    super('REPLICAS_UNCONFIRMED', 503, 'the queue took the record but its replicas did not confirm it in time; retry later (with the same Idempotency-Key to be safe)');
  }
}

type QueueLike = Pick<Queue, 'client' | 'toKey'>;
/** Called before the write; resolves with the confirmation to await after it (rejects: 503). */
export type ConfirmReplicas = (queue: QueueLike) => Promise<() => Promise<void>>;

type Shared = { running?: Promise<number>; queued?: Promise<number> };

export function createReplicaWait(replicas: number, timeoutMs: number): ConfirmReplicas | undefined {
  if (replicas === 0) return undefined;
  const shared = new WeakMap<Redis, Shared>();
  const reconnects = new WeakMap<Redis, number>();
  const send = (node: Redis) => withTimeout(node.call('WAIT', replicas, timeoutMs) as Promise<number>, timeoutMs + 1000, () => new ReplicasUnconfirmedError()).catch(() => 0);
  const waitOn = (node: Redis): Promise<number> => {
    let s = shared.get(node);
    if (!s) shared.set(node, (s = {}));
    const state = s;
    if (!state.running) return (state.running = send(node).finally(() => (state.running = undefined)));
    // The WAIT out now may have left before our write: take the next one, shared with the others.
    return (state.queued ??= state.running.then(() => {
      state.queued = undefined;
      return waitOn(node);
    }));
  };
  const connectionOf = async (queue: QueueLike) => {
    const client = (await queue.client) as unknown as Redis | Cluster;
    const node = client instanceof Cluster ? masterOf(client, queue.toKey('id')) : client;
    if (node && !reconnects.has(node)) {
      reconnects.set(node, 0);
      node.on('ready', () => reconnects.set(node, (reconnects.get(node) ?? 0) + 1));
    }
    return { node, generation: node ? reconnects.get(node) : undefined };
  };
  return async (queue) => {
    const before = await connectionOf(queue);
    return async () => {
      const after = await connectionOf(queue);
      const same = before.node !== undefined && after.node === before.node && after.generation === before.generation;
      const acked = same ? await waitOn(before.node!) : 0;
      if (acked < replicas) throw new ReplicasUnconfirmedError();
    };
  };
}

/** The connection to the master serving a key's slot, as the cluster client knows it now. */
function masterOf(cluster: Cluster, key: string): Redis | undefined {
  const owner = cluster.slots[keySlot(key)]?.[0];
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
}

/** Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of its hash tag `{...}`, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const bytes = Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key);
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
