import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { keySlot } from '../../src/shared/replica-wait.ts';
import { clusterNodes, createClusterEnv, ownerOf, type ClusterEnv } from '../support/cluster-env.ts';
import { until } from '../support/records.ts';
import type { Proc } from '../support/processes.ts';

// Issue 11: on a real local Redis Cluster (3 masters, 3 replicas), 8 queue partitions spread over
// the masters; the API and a worker (real processes, cluster clients) carry 10,000 records through.

const PARTITIONS = 8;
const PATIENTS = 2500;
const VERSIONS = 4;

let env: ClusterEnv;
let base: string;
let worker: Proc;
beforeAll(async () => {
  env = await createClusterEnv(PARTITIONS);
  ({ base } = await env.startApi({ API_BATCH_MAX: '500', API_ENQUEUE_TIMEOUT_MS: '10000' }));
  worker = await env.startWorker({ WORKER_CONCURRENCY: '2' });
}, 120_000);
afterAll(() => env?.close());

const version = (id: number, v: number) => ({ ...SEED_SAMPLE, id, modify_time: new Date(Date.UTC(2025, 0, 1) + v * 60_000).toISOString(), fullname: `patient ${id} version ${v}` });

describe('partitions on a Redis Cluster', () => {
  it('when 10,000 records (4 versions of 2,500 patients, shuffled) go through 8 partitions, then all are stored, the newest version wins for each patient, and the 8 partitions\' keys are on all 3 masters, each on the master owning its slot', { timeout: 240_000 }, async () => {
    const records = Array.from({ length: PATIENTS * VERSIONS }, (_, i) => version(10_000 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS)));
    for (let i = records.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [records[i], records[j]] = [records[j]!, records[i]!];
    }
    const started = Date.now();
    const refs: string[] = [];
    const statuses: number[] = [];
    let next = 0;
    const client = async () => {
      while (next < records.length) {
        const batch = records.slice(next, (next += 500));
        const res = await fetch(`${base}/api/patients/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
        statuses.push(res.status);
        if (res.status === 202) refs.push(...((await res.json()) as { results: { jobId: string }[] }).results.map((r) => r.jobId));
      }
    };
    await Promise.all(Array.from({ length: 4 }, client));
    const acceptedMs = Date.now() - started;
    expect(statuses.every((s) => s === 202), `answers ${JSON.stringify(statuses)}`).toBe(true);
    expect(refs).toHaveLength(records.length);

    await until('every patient stored at its newest version', 180_000, async () => (await env.store.patients.countDocuments({ fullname: { $regex: `version ${VERSIONS}$` } })) === PATIENTS, 500,
      async () => ({ stored: await env.store.patients.countDocuments({}), newest: await env.store.patients.countDocuments({ fullname: { $regex: `version ${VERSIONS}$` } }), pending: await env.pending(), worker: worker.output().slice(-500) }));
    const storedMs = Date.now() - started;
    await until('the queues drained', 60_000, async () => (await env.pending()) === 0);

    const docs = await env.store.patients.find({}, { projection: { id: 1, fullname: 1 } }).toArray();
    const byMaster = env.partitionsByMaster();
    const nodes = clusterNodes(env.cluster.nodes[0]!.port);
    const partitionsOf = Object.fromEntries([...byMaster].map(([port, set]) => [port, [...set].sort()]));
    console.log('[cluster/partitions]', JSON.stringify({ records: records.length, patients: PATIENTS, partitions: PARTITIONS, acceptedMs, storedMs, docs: docs.length, partitionsByMaster: partitionsOf, byPartition: refs.reduce<Record<string, number>>((m, r) => ((m[r.split('-')[0]!] = (m[r.split('-')[0]!] ?? 0) + 1), m), {}) }));

    expect(docs).toHaveLength(PATIENTS);
    for (const d of docs) expect(d.fullname).toBe(`patient ${d.id} version ${VERSIONS}`);
    expect(new Set(refs.map((r) => r.split('-')[0]))).toEqual(new Set(Array.from({ length: PARTITIONS }, (_, p) => `p${p}`)));
    expect(byMaster.size).toBe(3);
    for (const set of byMaster.values()) expect(set.size).toBeGreaterThan(0);
    expect(new Set([...byMaster.values()].flatMap((s) => [...s]))).toEqual(new Set(Array.from({ length: PARTITIONS }, (_, p) => p)));
    for (const [port, set] of byMaster) for (const p of set) expect(ownerOf(nodes, keySlot(`{${env.config.QUEUE_NAME}-${p}}`))?.port).toBe(port);
  });
});

describe('the API\'s own keys on a Redis Cluster', () => {
  it('when a record is posted twice with one Idempotency-Key, then the second answer replays the first, its status answers from its partition, and readiness and metrics cover the cluster', { timeout: 60_000 }, async () => {
    const post = () => fetch(`${base}/api/patients`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'cluster-key-1' }, body: JSON.stringify(version(90_001, 1)) });
    const first = await post();
    const second = await post();
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const ref = ((await first.json()) as { jobId: string }).jobId;
    expect(((await second.json()) as { jobId: string }).jobId).toBe(ref);
    expect(ref).toMatch(/^p\d-\d+-\d+$/);
    await until('the record stored', 30_000, async () => ((await (await fetch(`${base}/api/patients/jobs/${ref}`)).json()) as { state: string }).state === 'stored');
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (let p = 0; p < PARTITIONS; p++) expect(metrics).toMatch(new RegExp(`^queue_jobs\\{state="completed",partition="${p}"\\} \\d+$`, 'm'));
  });
});
