import type { Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import { AppError, withTimeout } from './errors.ts';

// REDIS_WAIT_REPLICAS: Redis replicates asynchronously, so a job a master acknowledged can vanish
// when that master fails over before a replica had it. WAIT k blocks the connection that wrote the
// job until k replicas confirm everything it wrote so far; the 202 waits for it. On a cluster, WAIT
// must go over the connection to the master that owns the queue's slot (it wrote the job).

export class ReplicasUnconfirmedError extends AppError {
  constructor() {
    super('REPLICAS_UNCONFIRMED', 503, 'the queue took the record but its replicas did not confirm it in time; retry later (with the same Idempotency-Key to be safe)');
  }
}

export type ConfirmReplicas = (queue: Pick<Queue, 'client' | 'toKey'>) => Promise<void>;

export function createReplicaWait(replicas: number, timeoutMs: number): ConfirmReplicas | undefined {
  if (replicas === 0) return undefined;
  return async (queue) => {
    const client = (await queue.client) as unknown as Redis | Cluster;
    const node = client instanceof Cluster ? masterOf(client, queue.toKey('id')) : client;
    const acked = node ? await withTimeout(node.call('WAIT', replicas, timeoutMs), timeoutMs + 1000, () => new ReplicasUnconfirmedError()).catch(() => 0) : 0;
    if (typeof acked !== 'number' || acked < replicas) throw new ReplicasUnconfirmedError();
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
