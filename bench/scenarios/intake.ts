// Scenario 1 (one patient per request) and 2 (batches): the API against the HTTP limit (bare 202)
// and, for single records, against the old synchronous write-to-MongoDB endpoint.
import { startHttp, flushRedis, dropDb, type Ctx, type HttpProc } from '../lib/context.ts';
import { AUTH_HEADERS } from '../lib/auth.ts';
import { runLoad, type LoadResult } from '../lib/load.ts';
import { batchBody, patientBody, takeIds } from '../lib/patients.ts';
import { median, medianRatio, say } from '../lib/util.ts';

export type IntakeKey = 'service' | 'bare202' | 'syncMongo';

export type IntakeSingleResult = {
  available: true;
  connections: number;
  durationS: number;
  rounds: Record<IntakeKey, LoadResult[]>;
  medians: Record<IntakeKey, { rps: number | null; p50: number | null; p99: number | null; p99_9: number | null; cpuUsPerRequest: number | null }>;
  ratios: { serviceVsBare202: number | null; serviceVsSyncMongo: number | null };
};

const summarize = (runs: LoadResult[]) => ({
  rps: median(runs.map((r) => r.rps)),
  p50: median(runs.map((r) => r.latencyMs.p50)),
  p99: median(runs.map((r) => r.latencyMs.p99)),
  p99_9: median(runs.map((r) => r.latencyMs.p99_9)),
  cpuUsPerRequest: median(runs.map((r) => r.serverCpuUsPerRequest ?? NaN)),
});

const singleLoad = (ctx: Ctx, label: string, server: HttpProc, durationS: number) =>
  runLoad({ label, url: `${server.url}/api/patients`, connections: ctx.params.connections, durationS, serverPid: server.pid, body: (i) => patientBody(base + i) });

// Every load draws from one id space (set per load below), so ids never repeat within a run.
let base = 0;
const withIds = async <T>(count: number, fn: () => Promise<T>): Promise<T> => {
  base = takeIds(count);
  return fn();
};
const MAX_IDS_PER_LOAD = 10_000_000;

export async function intakeSingle(ctx: Ctx): Promise<IntakeSingleResult> {
  const p = ctx.params;
  ctx.rss.phase = 's1';
  const target = { queue: 'intake', db: 'bench_intake' };
  const servers: Record<IntakeKey, HttpProc> = {
    service: await startHttp(ctx, 'api', target, 'api-s1'),
    bare202: await startHttp(ctx, 'bare202', target),
    syncMongo: await startHttp(ctx, 'syncMongo', target),
  };
  const keys: IntakeKey[] = ['service', 'bare202', 'syncMongo'];
  const rounds: Record<IntakeKey, LoadResult[]> = { service: [], bare202: [], syncMongo: [] };
  try {
    if (p.warmupS > 0) {
      for (const key of keys) await withIds(MAX_IDS_PER_LOAD, () => singleLoad(ctx, `warm-up ${key}`, servers[key], p.warmupS));
    }
    for (let r = 1; r <= p.rounds; r++) {
      // Interleaved (service, bare, sync, service, ...) so drift from other load on the box hits all alike.
      for (const key of keys) {
        ctx.checkDeadline();
        await flushRedis(ctx);
        say(`scenario 1 round ${r}/${p.rounds}: ${key}, ${p.connections} connections, ${p.intakeS} s`);
        const res = await withIds(MAX_IDS_PER_LOAD, () => singleLoad(ctx, `s1 ${key} r${r}`, servers[key], p.intakeS));
        say(`  ${key}: ${res.rps.toFixed(0)} req/s, ${res.serverCpuUsPerRequest?.toFixed(0) ?? '?'} µs CPU/request on ${res.serverCores?.toFixed(2) ?? '?'} cores, p50 ${res.latencyMs.p50} ms, p99 ${res.latencyMs.p99} ms, p99.9 ${res.latencyMs.p99_9} ms, non-2xx ${res.non2xx}, errors ${res.errors}`);
        rounds[key].push(res);
      }
    }
  } finally {
    await Promise.all(keys.map((k) => servers[k].stop()));
    await flushRedis(ctx);
    await dropDb(ctx, target.db);
  }
  const pairs = (b: IntakeKey) => rounds.service.map((s, i) => ({ a: s.rps, b: rounds[b][i]?.rps ?? null }));
  return {
    available: true,
    connections: p.connections,
    durationS: p.intakeS,
    rounds,
    medians: { service: summarize(rounds.service), bare202: summarize(rounds.bare202), syncMongo: summarize(rounds.syncMongo) },
    ratios: { serviceVsBare202: medianRatio(pairs('bare202')), serviceVsSyncMongo: medianRatio(pairs('syncMongo')) },
  };
}

export type BatchSizeResult = {
  size: number;
  rounds: { service: LoadResult[]; bare202: LoadResult[] };
  /** Items accepted per request in a probe of this size (the rest were rejected per item). */
  probeAccepted: number;
  medians: { servicePatientsPerS: number | null; bare202PatientsPerS: number | null; serviceP99Ms: number | null; serviceCpuUsPerPatient: number | null; bare202CpuUsPerPatient: number | null };
  ratioVsBare202: number | null;
};

export type IntakeBatchResult =
  | { available: false; reason: string; probeStatus: number | null }
  | { available: true; connections: number; durationS: number; sizes: BatchSizeResult[] };

async function probe(url: string, size: number): Promise<{ status: number; accepted: number }> {
  const res = await fetch(`${url}/api/patients/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH_HEADERS },
    body: batchBody(takeIds(size), size),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json().catch(() => null)) as { accepted?: number; results?: { jobId?: string }[] } | null;
  const accepted = typeof body?.accepted === 'number' ? body.accepted : (body?.results?.filter((r) => r.jobId).length ?? 0);
  return { status: res.status, accepted };
}

export async function intakeBatch(ctx: Ctx): Promise<IntakeBatchResult> {
  const p = ctx.params;
  ctx.rss.phase = 's2';
  const target = { queue: 'batch', db: 'bench_batch' };
  const service = await startHttp(ctx, 'api', target, 'api-s2');
  let bare: HttpProc | undefined;
  try {
    const first = await probe(service.url, 2);
    if (first.status === 404 || first.status === 405) {
      say(`scenario 2: POST /api/patients/batch answered ${first.status}: recorded as not available`);
      return { available: false, reason: `POST /api/patients/batch answered ${first.status}`, probeStatus: first.status };
    }
    if (first.status !== 202 || first.accepted !== 2) {
      say(`scenario 2: a probe batch of 2 answered ${first.status} with ${first.accepted} accepted: recorded as not available`);
      return { available: false, reason: `a valid batch of 2 answered ${first.status} with ${first.accepted} accepted`, probeStatus: first.status };
    }
    bare = await startHttp(ctx, 'bare202', target, 'bare202-s2');
    const sizes: BatchSizeResult[] = [];
    for (const size of p.batchSizes) {
      const check = await probe(service.url, size);
      // A pool of distinct bodies, built up front: building 1000-patient bodies per request would
      // make the load generator the bottleneck. Ids repeat only after the pool is used up.
      const pool = Array.from({ length: 32 }, () => batchBody(takeIds(size), size));
      const load = (label: string, server: HttpProc, durationS: number) =>
        runLoad({ label, url: `${server.url}/api/patients/batch`, connections: p.batchConnections, durationS, serverPid: server.pid, body: (i) => pool[i % pool.length]! });
      if (p.warmupS > 0) {
        await load(`warm-up batch ${size} service`, service, p.warmupS);
        await load(`warm-up batch ${size} bare`, bare, p.warmupS);
      }
      const rounds = { service: [] as LoadResult[], bare202: [] as LoadResult[] };
      for (let r = 1; r <= p.rounds; r++) {
        ctx.checkDeadline();
        await flushRedis(ctx);
        say(`scenario 2 round ${r}/${p.rounds}: batches of ${size}, ${p.batchConnections} connections, ${p.batchS} s`);
        const s = await load(`s2 service ${size} r${r}`, service, p.batchS);
        say(`  service: ${((s.rps * size * check.accepted) / size).toFixed(0)} patients/s (${s.rps.toFixed(1)} req/s, p99 ${s.latencyMs.p99} ms, non-2xx ${s.non2xx})`);
        rounds.service.push(s);
        await flushRedis(ctx);
        const b = await load(`s2 bare ${size} r${r}`, bare, p.batchS);
        say(`  bare 202: ${(b.rps * size).toFixed(0)} patients/s`);
        rounds.bare202.push(b);
      }
      const per = (runs: LoadResult[], n: number) => runs.map((r) => r.rps * n);
      sizes.push({
        size,
        rounds,
        probeAccepted: check.accepted,
        medians: {
          servicePatientsPerS: median(per(rounds.service, check.accepted)),
          bare202PatientsPerS: median(per(rounds.bare202, size)),
          serviceP99Ms: median(rounds.service.map((r) => r.latencyMs.p99)),
          serviceCpuUsPerPatient: median(rounds.service.map((r) => (r.serverCpuUsPerRequest ?? NaN) / size)),
          bare202CpuUsPerPatient: median(rounds.bare202.map((r) => (r.serverCpuUsPerRequest ?? NaN) / size)),
        },
        ratioVsBare202: medianRatio(rounds.service.map((s, i) => ({ a: s.rps * check.accepted, b: (rounds.bare202[i]?.rps ?? NaN) * size }))),
      });
    }
    return { available: true, connections: p.batchConnections, durationS: p.batchS, sizes };
  } finally {
    await service.stop();
    await bare?.stop();
    await flushRedis(ctx);
    await dropDb(ctx, target.db);
  }
}
