import { patientKey } from './patient/patient-key.ts';

// Queue partitions (QUEUE_PARTITIONS): each is its own BullMQ queue, so on a Redis Cluster the
// partitions spread over the masters (one queue lives in one hash slot). A record goes to the
// partition of its patient key, so all versions of one patient meet in one queue and keep their
// job order there (the job sequence is the last tie-breaker of "newest wins").

export type PartitionLayout = { name: string; count: number; cluster: boolean };

/**
 * The queue name of partition `p`. One partition on a single Redis keeps the configured name, so
 * the keys of an existing deployment stay valid; otherwise the name is a hash tag (`{patients-3}`):
 * every key of the queue is then in one slot, as BullMQ's scripts need on a cluster.
 */
export function partitionQueueName({ name, count, cluster }: PartitionLayout, p: number): string {
  return count === 1 && !cluster ? name : `{${name}-${p}}`;
}

export const partitionQueueNames = (layout: PartitionLayout): string[] => Array.from({ length: layout.count }, (_, p) => partitionQueueName(layout, p));

/** FNV-1a (32 bit) of the key: stable across processes, versions and platforms; cheap. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The partition of a patient: its `(center_id, id)` key hashed, modulo the partition count. */
export function partitionOf(patient: { center_id?: unknown; id?: unknown }, count: number): number {
  if (count === 1) return 0;
  const center = typeof patient.center_id === 'number' ? patient.center_id : null;
  // The API only enqueues validated records (an int id); anything else still lands somewhere fixed.
  return typeof patient.id === 'number' ? fnv1a(patientKey(center, patient.id)) % count : fnv1a(String(patient.id)) % count;
}

/**
 * WORKER_PARTITIONS: `all`, or a list of numbers and ranges (`0,2-3`), each below `count`.
 * Answers the sorted partitions, or an error message.
 */
export function parsePartitionList(text: string, count: number): number[] | string {
  if (text.trim() === 'all') return Array.from({ length: count }, (_, p) => p);
  const chosen = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (!m) return 'must be all, or partitions and ranges such as 0,2-3';
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to) return `has a backwards range ${part}`;
    if (to >= count) return `names partition ${to}, but QUEUE_PARTITIONS is ${count} (partitions 0-${count - 1})`;
    for (let p = from; p <= to; p++) chosen.add(p);
  }
  return [...chosen].sort((a, b) => a - b);
}
