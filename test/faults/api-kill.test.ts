import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PatientRecord } from '../../src/shared/queue.ts';
import { createFaultEnv, jobIdsOf, refParts, patientVersion, shuffle, until, type FaultEnv } from '../support/fault-env.ts';
import { post } from '../support/http.ts';
import type { Proc } from '../support/processes.ts';

// Issue 9: the API coalesces the records of concurrent requests into one job and answers each 202
// only once Redis has that job. Kill the API process while requests are in flight (and being
// coalesced): every 202 the client saw must hold, and nothing the client did not see as a 202 may
// pose as one. Real API and worker processes over real HTTP on loopback.

let env: FaultEnv;
let api: Proc;
let worker: Proc;
let base: string;
beforeAll(async () => {
  env = await createFaultEnv({ workerEnv: { WORKER_CONCURRENCY: '8' } });
  ({ api, worker, base } = await env.startHttpStack());
});
afterAll(() => env?.close());

const PATIENTS = 100;
const VERSIONS = 10;
const IN_FLIGHT = 64; // concurrent requests: a bounded client on loopback
const KILL_AFTER = 250; // answers seen before the kill (202s, or 503/429 refusals under load)

const versionOf = (fullname: string) => Number(/version (\d+)$/.exec(fullname)?.[1] ?? NaN);

type Sent = { record: PatientRecord; status?: number; ref?: string; error?: string };

describe('fault: the API process is killed', () => {
  it('when the API is SIGKILLed while concurrent single POSTs are in flight, then every 202 is stored (its version or newer) and no request without an answer was acknowledged', { timeout: 120_000 }, async () => {
    const records = shuffle(Array.from({ length: PATIENTS * VERSIONS }, (_, i) => patientVersion(1 + (i % PATIENTS), 1 + Math.floor(i / PATIENTS))));
    const sent: Sent[] = [];
    let next = 0;
    let answered = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;
    let killed: Promise<unknown> | undefined;

    const client = async () => {
      while (next < records.length && !killed) {
        const s: Sent = { record: records[next++]! };
        sent.push(s);
        inFlight++;
        try {
          const res = await post(base, s.record.patient, { timeoutMs: 15_000 });
          s.status = res.statusCode;
          if (res.statusCode === 202) s.ref = (res.json() as { jobId: string }).jobId; // the record reference
          if (++answered === KILL_AFTER && !killed) {
            inFlightAtKill = inFlight - 1;
            api.child.kill('SIGKILL');
            killed = api.exited;
          }
        } catch (err) {
          s.error = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
        } finally {
          inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, client));
    expect(killed, 'the API was killed').toBeDefined();
    expect((await api.exited).signal).toBe('SIGKILL');

    const acks = sent.filter((s) => s.status === 202);
    const noAnswer = sent.filter((s) => s.status === undefined);
    const otherAnswers = sent.filter((s) => s.status !== undefined && s.status !== 202);
    // The newest version per patient among what the client saw acknowledged.
    const newestAcked = new Map<number, number>();
    for (const s of acks) {
      const id = Number(s.record.patient.id);
      newestAcked.set(id, Math.max(newestAcked.get(id) ?? 0, versionOf(String(s.record.patient.fullname))));
    }

    // The worker (never restarted) drains what Redis holds.
    const behind = async () => {
      const docs = await env.store.patients.find({}, { projection: { id: 1, fullname: 1 } }).toArray();
      const stored = new Map(docs.map((d) => [d.id, versionOf(String(d.fullname))]));
      return [...newestAcked].filter(([id, v]) => (stored.get(id) ?? 0) < v).map(([id, v]) => ({ id, acked: v, stored: stored.get(id) ?? null }));
    };
    let lastBehind: Awaited<ReturnType<typeof behind>> = [];
    await until('every acknowledged record stored and the queue drained', 60_000, async () => {
      lastBehind = await behind();
      const c = await env.counts();
      return lastBehind.length === 0 && c.wait + c.active + c.delayed === 0;
    }, 200, async () => ({ behind: lastBehind.slice(0, 10), behindCount: lastBehind.length, counts: await env.counts(), worker: worker.output().slice(-1500) }));

    // What Redis holds: each 202's reference names the very record its request sent.
    const refs = acks.map((s) => s.ref!);
    const jobs = new Map(await Promise.all(jobIdsOf(refs).map(async (id) => [id, await env.queue.getJob(id)] as const)));
    const mismatched = acks.filter((s, i) => {
      const { jobId, index } = refParts(refs[i]!);
      return jobs.get(jobId)?.data.records[index]?.patient.fullname !== s.record.patient.fullname;
    });
    const allJobs = await env.queue.getJobs(['completed', 'failed', 'wait', 'active', 'delayed'], 0, -1);
    const queued = new Set(allJobs.flatMap((j) => j.data.records.map((r) => String(r.patient.fullname))));
    const unansweredButQueued = noAnswer.filter((s) => queued.has(String(s.record.patient.fullname))).length;
    const docs = await env.store.patients.find({}, { projection: { _id: 1, fullname: 1, '_ingest.jobId': 1 } }).toArray();
    const sentNames = new Set(sent.map((s) => String(s.record.patient.fullname)));
    const ackedNames = new Set(acks.map((s) => String(s.record.patient.fullname)));
    const storedFromUnanswered = docs.filter((d) => !ackedNames.has(String(d.fullname))).length;
    const counts = await env.counts();
    console.log('[api-kill]', JSON.stringify({
      requestsSent: sent.length, inFlightAtKill, acknowledged: acks.length, noAnswer: noAnswer.length, otherAnswers: Object.fromEntries([...new Set(otherAnswers.map((s) => s.status))].map((st) => [st, otherAnswers.filter((s) => s.status === st).length])),
      noAnswerErrors: [...new Set(noAnswer.map((s) => s.error))].slice(0, 5), jobsHoldingAcks: jobIdsOf(refs).length, jobsInQueue: allJobs.length,
      unansweredButEnqueued: unansweredButQueued, patientsAcked: newestAcked.size, storedDocs: docs.length, storedDocsNewestFromUnanswered: storedFromUnanswered,
      mismatchedAcks: mismatched.length, counts, workerAlive: worker.child.exitCode === null,
    }));

    expect(inFlightAtKill).toBeGreaterThan(0); // the kill caught requests in flight
    expect(noAnswer.length).toBeGreaterThan(0); // ... and some of them never got an answer
    // Besides 202s, only refusals that promise nothing (backpressure 503, rate limit 429).
    expect(otherAnswers.filter((s) => s.status !== 503 && s.status !== 429).map((s) => s.status)).toEqual([]);
    expect(acks.length).toBeGreaterThan(0);
    expect(new Set(refs).size).toBe(acks.length); // one reference per acknowledged record
    expect(jobIdsOf(refs).length).toBeLessThan(acks.length); // they were coalesced
    expect(mismatched).toEqual([]); // each 202 points at its own record
    expect(lastBehind).toEqual([]); // every 202 stored, its version or newer
    expect(docs.every((d) => sentNames.has(String(d.fullname)))).toBe(true); // nothing stored that was not sent
    const duplicates = await env.store.patients.aggregate([{ $group: { _id: '$id', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }]).toArray();
    expect(duplicates).toEqual([]); // one document per patient
    expect(counts.failed).toBe(0);
    expect(await env.store.deadLetters.countDocuments()).toBe(0);
    expect(worker.child.exitCode).toBeNull(); // the worker carried on without a restart
  });
});
