import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config/config.ts';
import { fnv1a, parsePartitionList, partitionOf, partitionQueueName } from '../../src/shared/partitions.ts';
import { parseRecordRef, partitionedRef, queueSettings } from '../../src/shared/queue.ts';
import { keySlot } from '../../src/shared/replica-wait.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379', MONGO_URL: 'mongodb://127.0.0.1:27017' };

describe('queue partitions', () => {
  it('when there is one partition on a single Redis, then the queue keeps its configured name and references their old form', () => {
    const settings = queueSettings(loadConfig(base));
    expect(settings.names).toEqual(['patients']);
    expect(partitionedRef(0, 1, '12-3')).toBe('12-3');
    expect(parseRecordRef('12-3')).toEqual({ partition: 0, jobId: '12', index: 3 });
    expect(parseRecordRef('12')).toEqual({ partition: 0, jobId: '12', index: 0 });
  });

  it('when there are several partitions (or a cluster), then each queue name is a hash tag of its own and references name the partition', () => {
    expect(queueSettings(loadConfig({ ...base, QUEUE_PARTITIONS: '4' })).names).toEqual(['{patients-0}', '{patients-1}', '{patients-2}', '{patients-3}']);
    expect(partitionQueueName({ name: 'patients', count: 1, cluster: true }, 0)).toBe('{patients-0}');
    expect(partitionedRef(3, 4, '12-3')).toBe('p3-12-3');
    expect(parseRecordRef('p3-12-3')).toEqual({ partition: 3, jobId: '12', index: 3 });
    expect(parseRecordRef('p-12-3')).toBeUndefined();
    expect(parseRecordRef('3-12-3')).toBeUndefined();
  });

  it('when records are partitioned, then one patient always maps to one partition and many patients spread over all of them', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c); // the published FNV-1a test vector
    const counts = new Array<number>(8).fill(0);
    for (let id = 1; id <= 8000; id++) {
      const p = partitionOf({ center_id: 3, id }, 8);
      expect(partitionOf({ center_id: 3, id }, 8)).toBe(p);
      counts[p]!++;
    }
    for (const n of counts) expect(n).toBeGreaterThan(800);
    // The same id at another center is another patient: it may go elsewhere.
    expect(new Set(Array.from({ length: 50 }, (_, c) => partitionOf({ center_id: c, id: 7 }, 8))).size).toBeGreaterThan(1);
  });

  it('when WORKER_PARTITIONS lists partitions and ranges, then they are read in order, and a partition past QUEUE_PARTITIONS stops the configuration', () => {
    expect(parsePartitionList('all', 3)).toEqual([0, 1, 2]);
    expect(parsePartitionList('3,0-1', 4)).toEqual([0, 1, 3]);
    expect(parsePartitionList('2-1', 4)).toMatch(/backwards/);
    expect(() => loadConfig({ ...base, QUEUE_PARTITIONS: '4', WORKER_PARTITIONS: '2-4' })).toThrow(/WORKER_PARTITIONS names partition 4, but QUEUE_PARTITIONS is 4/);
    expect(() => loadConfig({ ...base, WORKER_PARTITIONS: 'some' })).toThrow(/WORKER_PARTITIONS/);
    expect(() => loadConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000,nohost' })).toThrow(/REDIS_CLUSTER_NODES must be a comma-separated list of host:port/);
    expect(loadConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001' }).REDIS_CLUSTER_NODES).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
  });

  it('when a key has a hash tag, then its slot is the tag\'s (the Redis Cluster specification\'s examples)', () => {
    expect(keySlot('123456789')).toBe(0x31c3 % 16384); // CRC16/XMODEM check value
    expect(keySlot('bull:{patients-3}:wait')).toBe(keySlot('{patients-3}:id'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}')); // an empty tag: the whole key
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
  });
});

describe('cluster configuration', () => {
  it('when REDIS_CLUSTER_NODES is set and QUEUE_PREFIX is a hash tag, then the configuration is refused naming QUEUE_PREFIX (every partition would share one slot)', () => {
    expect(() => loadConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: '{bull}' })).toThrow(/QUEUE_PREFIX must not contain a hash tag/);
    expect(queueSettings(loadConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).names).toEqual(['{patients-0}']);
  });
});
