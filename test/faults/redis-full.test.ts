import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, redisServer, started, type LocalServer } from '../support/local-servers.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { startProcess, waitForOutput, type Proc } from '../support/processes.ts';
import { createFaultEnv, until, type FaultEnv } from '../support/fault-env.ts';
import { post } from '../support/http.ts';

// T8: a flood at several times what one worker drains, into a Redis with a small maxmemory
// (noeviction): once Redis is full the API may only answer 429 or 503, never 202 for a record Redis
// did not keep; it stays up, and takes records again once the worker has drained the queue.
let dir: string;
let redis: LocalServer;
let env: FaultEnv;
let api: Proc;
let port: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-fault-full-'));
  // With the API refusing at half of it (below): the flood reaches that well within its 12,000
  // requests, and what stays after the drain (BullMQ's event stream, buffers: ~2 MB) is below it.
  redis = await started(redisServer({ dataDir: dir, fsync: 'everysec', maxmemory: '8mb' }));
  env = await createFaultEnv({ redisUrl: redis.url, workerEnv: { WORKER_CONCURRENCY: '10', JOB_KEEP_COMPLETED: '10' } });
  port = await freePort();
  // Half of maxmemory: the memory reading is refreshed every 250 ms, and what a flood adds meanwhile must
  // not take Redis to its limit (then no worker could take a job: noeviction refuses its writes too).
  api = startProcess('api', { ...env.processEnv, API_PORT: String(port), AUTH_DEV_MODE: 'true', RATE_LIMIT_MAX: '10000000', LOG_LEVEL: 'warn', QUEUE_MAX_MEMORY_PERCENT: '50' });
  await waitForOutput(api, /Server listening|listening/i).catch(() => {});
  await until('the API answers', 15_000, async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).ok);
});
afterAll(async () => {
  api?.child.kill('SIGKILL');
  await api?.exited;
  await env?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One patient of the flood: its id, the status and the record reference of a 202. */
const send = async (id: number) => {
  const res = await post(`http://127.0.0.1:${port}`, { ...SEED_SAMPLE, id, fullname: 'x'.repeat(200) });
  return { id, status: res.statusCode, jobId: res.statusCode === 202 ? (res.json() as { jobId: string }).jobId : undefined };
};

describe('fault: a flood fills Redis (maxmemory, noeviction)', () => {
  it('when Redis is full, then only 429/503 are answered, every 202 is kept and stored, and the API takes records again after the drain', { timeout: 180_000 }, async () => {
    const answers: Awaited<ReturnType<typeof send>>[] = [];
    let next = 1;
    const flood = async () => {
      while (next <= 12_000) answers.push(await send(next++));
    };
    await Promise.all(Array.from({ length: 40 }, flood));
    const byStatus = answers.reduce<Record<number, number>>((acc, a) => ((acc[a.status] = (acc[a.status] ?? 0) + 1), acc), {});
    const firstRefusal = answers.findIndex((a) => a.status === 503);
    const liveDuringFull = (await fetch(`http://127.0.0.1:${port}/health/live`)).status;
    const accepted = answers.filter((a) => a.status === 202);
    // The worker starts once the flood is over: during it the capacity is nil, so Redis surely fills
    // (with a worker draining during the flood, whether 4 MB fill depends on the machine's speed).
    const worker = env.startWorker();

    let counts = await env.counts();
    await until('the worker drained every accepted record', 150_000, async () => (counts = await env.counts()).wait + counts.active + counts.delayed === 0, 500).catch((err: Error) => {
      throw new Error(`${err.message}; last counts ${JSON.stringify(counts)}; answers ${JSON.stringify(byStatus)}`);
    });
    const storedIds = new Set((await env.store.patients.find({}, { projection: { id: 1 } }).toArray()).map((d) => d.id));
    const acceptedNotStored = accepted.filter((a) => !storedIds.has(a.id)).length;
    const lettered = await env.store.deadLetters.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$errorCode', n: { $sum: 1 } } }]).toArray();
    // Once drained, the API takes records again (the first try may still meet the memory of jobs being removed).
    let after = await send(99_999);
    await until('the API takes records again', 30_000, async () => after.status === 202 || (after = await send(99_999)).status === 202, 200, async () => after);
    console.log('[redis-full]', JSON.stringify({ posted: answers.length, byStatus, firstRefusalAt: firstRefusal, liveDuringFull, accepted: accepted.length, stored: storedIds.size, acceptedNotStored, deadLetters: lettered, afterDrain: after.status, counts, workerAlive: worker.child.exitCode === null }));

    expect(Object.keys(byStatus).map(Number).every((s) => [202, 429, 503].includes(s))).toBe(true);
    expect(byStatus[503] ?? 0).toBeGreaterThan(0); // Redis did fill up
    expect(liveDuringFull).toBe(200);
    expect(acceptedNotStored).toBe(0);
    expect(after.status).toBe(202);
    expect(api.child.exitCode).toBeNull();
  });
});
