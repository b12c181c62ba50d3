import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServer, started, type LocalServer } from '../support/local-servers.ts';
import type { PatientRecord, WriteOutcome } from '../../src/shared/queue.ts';
import { createFaultEnv, jobIdsOf, patientVersion, refParts, until, type FaultEnv } from '../support/fault-env.ts';
import { post } from '../support/http.ts';
import type { Proc } from '../support/processes.ts';

// "Every 202 lands" under faults, proven through the API: a client POSTs single records over real
// HTTP to an API process while the worker process is SIGKILLed (and restarted), then Redis is
// SIGKILLed (and restarted on the same port and data directory: appendonly, appendfsync always),
// then the worker again. Only what the client saw answered 202 is promised; 503/429 promise nothing.
// Afterwards the database must hold, for every acknowledged patient, one document with the newest
// acknowledged version or a newer one that was also sent.

let dir: string;
let redis: LocalServer;
let env: FaultEnv;
let api: Proc;
let worker: Proc;
let base: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-http-load-kills-'));
  redis = await started(redisServer({ dataDir: dir, fsync: 'always' }));
  // Short job locks (as in worker-kill): the jobs a killed worker held come back in seconds, not 30 s.
  env = await createFaultEnv({
    redisUrl: redis.url,
    workerEnv: { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000', WORKER_CONCURRENCY: '8' },
  });
  ({ api, worker, base } = await env.startHttpStack());
});
afterAll(async () => {
  await env?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// 2,400 records. Patients come and go: each one's versions go out in order of modify_time within
// its own quarter of the run, the quarters staggered, so that patients finish before, around and
// after each fault: a record lost with Redis would leave its patient older than acknowledged.
const PATIENTS = 300;
const VERSIONS = 8;
const WINDOW = 0.25;
const IN_FLIGHT = 24; // concurrent requests: a bounded client on loopback
const LOAD_BOUND_MS = 45_000; // the load stops taking new records after this, whatever is left
const RETRY_PAUSE_MS = 100; // a refused client waits before it sends the same record again (a client's back-off, not a synchronisation)
const REDIS_OUTAGE_MS = 2000; // a deliberate fault duration: how long Redis stays dead
// When the faults strike, as shares of the records acknowledged so far.
const KILL_WORKER_AT = 0.15;
const KILL_REDIS_AT = 0.35;
const KILL_WORKER_AGAIN_AT = 0.6;

const versionOf = (fullname: unknown) => Number(/version (\d+)$/.exec(String(fullname))?.[1] ?? NaN);

type Sent = { record: PatientRecord; id: number; version: number; attempts: number; ref?: string };

describe('fault: worker and Redis killed under HTTP load', () => {
  it('when the worker, then Redis, then the worker again are SIGKILLed while clients POST over HTTP, then every 202 is stored once with its version or a newer one that was sent, and the refusals were 503/429 only', { timeout: 150_000 }, async () => {
    const at = (id: number, v: number) => ((id - 1) / PATIENTS) * (1 - WINDOW) + ((v - 1) / (VERSIONS - 1)) * WINDOW;
    const records: Sent[] = [];
    for (let id = 1; id <= PATIENTS; id++) for (let v = 1; v <= VERSIONS; v++) records.push({ record: patientVersion(id, v), id, version: v, attempts: 0 });
    records.sort((a, b) => at(a.id, a.version) - at(b.id, b.version));
    const refused: Record<string, number> = {};
    const noAnswer: Record<string, number> = {};
    let acked = 0;
    let next = 0;
    const loadEnd = Date.now() + LOAD_BOUND_MS;

    const client = async () => {
      while (next < records.length && Date.now() < loadEnd) {
        const s = records[next++]!;
        // The same record until it is acknowledged (or the load's bound is reached), as a client honouring 503 would.
        while (!s.ref && Date.now() < loadEnd) {
          s.attempts++;
          try {
            const res = await post(base, s.record.patient, { timeoutMs: 15_000 });
            if (res.statusCode === 202) {
              s.ref = (res.json() as { jobId: string }).jobId; // the record reference
              acked++;
              continue;
            }
            refused[res.statusCode] = (refused[res.statusCode] ?? 0) + 1;
          } catch (err) {
            const code = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
            noAnswer[code] = (noAnswer[code] ?? 0) + 1;
          }
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
        }
      }
    };

    const kills: string[] = [];
    const ackedAt = (share: number) =>
      until(`${share * 100}% of the records acknowledged`, LOAD_BOUND_MS, async () => acked >= records.length * share, 20, async () => ({ acked, refused, noAnswer, api: api.output().slice(-1500) }));
    const killWorker = async () => {
      worker.child.kill('SIGKILL');
      expect((await worker.exited).signal).toBe('SIGKILL');
      kills.push(`worker at ${acked} acknowledged`);
      worker = env.startWorker({ LOG_LEVEL: 'info' });
    };
    const faults = async () => {
      await ackedAt(KILL_WORKER_AT);
      await killWorker();
      await ackedAt(KILL_REDIS_AT);
      await redis.kill(); // no shutdown: what Redis had not fsynced to its AOF is gone
      kills.push(`redis at ${acked} acknowledged`);
      await new Promise((r) => setTimeout(r, REDIS_OUTAGE_MS)); // the outage itself, not a synchronisation
      await redis.start();
      await ackedAt(KILL_WORKER_AGAIN_AT);
      await killWorker();
    };
    await Promise.all([faults(), ...Array.from({ length: IN_FLIGHT }, client)]);

    const acks = records.filter((s) => s.ref);
    const sentVersions = new Map<number, Set<number>>();
    for (const s of records) if (s.attempts > 0) sentVersions.set(s.id, (sentVersions.get(s.id) ?? new Set()).add(s.version));
    const newestAcked = new Map<number, number>();
    for (const s of acks) newestAcked.set(s.id, Math.max(newestAcked.get(s.id) ?? 0, s.version));

    // The last worker drains the queue (a killed worker's jobs come back once their locks expire); then the database is compared.
    await until('the queue drained', 60_000, async () => {
      const c = await env.counts();
      return c.wait + c.active + c.delayed + c.prioritized + c.paused === 0;
    }, 200, async () => ({ counts: await env.counts(), worker: worker.output().slice(-1500) }));

    const docs = await env.store.patients.find({}, { projection: { _id: 1, id: 1, fullname: 1 } }).toArray();
    const byId = new Map(docs.map((d) => [Number(d.id), versionOf(d.fullname)]));
    const missing = [...newestAcked.keys()].filter((id) => !byId.has(id));
    // Older than the newest acknowledged version, or a version never sent.
    const wrong = docs.filter((d) => {
      const v = versionOf(d.fullname);
      return v < (newestAcked.get(Number(d.id)) ?? 0) || !sentVersions.get(Number(d.id))?.has(v);
    }).map((d) => ({ id: d.id, stored: versionOf(d.fullname), acked: newestAcked.get(Number(d.id)) ?? null }));
    const duplicates = await env.store.patients.aggregate([{ $group: { _id: '$id', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }]).toArray();
    // What Redis holds after its crash: each 202's reference names the very record its request sent, decided.
    const refs = acks.map((s) => s.ref!);
    const jobs = new Map(await Promise.all(jobIdsOf(refs).map(async (id) => [id, await env.queue.getJob(id)] as const)));
    const mismatched = acks.filter((s) => {
      const { jobId, index } = refParts(s.ref!);
      return jobs.get(jobId)?.data.records[index]?.patient.fullname !== s.record.patient.fullname;
    }).length;
    const outcomes: Record<WriteOutcome | 'rejected' | 'undecided', number> = { inserted: 0, updated: 0, unchanged: 0, stale: 0, rejected: 0, undecided: 0, ...(await env.outcomes(refs)) };
    const redelivered = [...jobs.values()].filter((j) => (j?.attemptsStarted ?? 0) > 1).length;
    const counts = await env.counts();
    const deadLetters = await env.store.deadLetters.countDocuments();
    console.log('[http-load-kills]', JSON.stringify({
      records: records.length, sent: records.filter((s) => s.attempts > 0).length, requests: records.reduce((n, s) => n + s.attempts, 0),
      acknowledged: acks.length, refusedByStatus: refused, noAnswer, kills, patientsAcked: newestAcked.size, stored: docs.length,
      missing: missing.length, wrong: wrong.length, wrongSample: wrong.slice(0, 5), duplicates: duplicates.length, mismatchedRefs: mismatched,
      jobsHoldingAcks: jobs.size, redeliveredJobs: redelivered, outcomes, counts, deadLetters,
    }));

    expect(kills).toHaveLength(3);
    expect(refused[503] ?? 0).toBeGreaterThan(0); // the API saw Redis down and said so
    // Besides 202s, only refusals that promise nothing; the API itself never went away.
    expect(Object.keys(refused).filter((st) => st !== '503' && st !== '429')).toEqual([]);
    expect(noAnswer).toEqual({});
    expect(api.child.exitCode).toBeNull();
    expect(acks.length).toBeGreaterThan(records.length * KILL_WORKER_AGAIN_AT);
    // Every 202 held: Redis kept its job through the crash, the job decided it, the database has it.
    expect(mismatched).toBe(0);
    expect(outcomes.undecided + outcomes.rejected).toBe(0);
    expect(missing).toEqual([]);
    expect(wrong).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(counts.failed).toBe(0);
    expect(deadLetters).toBe(0);
  });
});
