// Scenario 4 (end to end) and the soak of scenario 5: the real API and one worker together under a
// steady offered load (autocannon overallRate). Accepted/s from the HTTP answers, stored/s and the
// time from 202 to stored from the stored documents (`_ingest.receivedAt` -> `_ingest.appliedAt`),
// queue depth sampled from Redis while the load runs.
import { dropDb, flushRedis, openQueue, queueDepth, startHttp, startWorker, waitDrained, type Ctx } from '../lib/context.ts';
import { runLoad, type LoadResult } from '../lib/load.ts';
import { patientBody, takeIds } from '../lib/patients.ts';
import { prestore } from './drain-updates.ts';
import type { RssSample } from '../lib/procs.ts';
import { median, percentileSorted, round, say, sleep } from '../lib/util.ts';

export type TimelinePoint = { t: number; queueDepth: number | null; acceptedPerS: number | null; storedPerS: number };

export type E2ERun = {
  offeredRate: number;
  population: number | null;
  failed: number;
  durationS: number;
  http: LoadResult;
  acceptedPerS: number;
  storedDuringLoad: number;
  storedPerS: number;
  storedTotal: number;
  /** Seconds after the load stopped until the queue was empty. */
  drainTailS: number;
  maxQueueDepth: number;
  /**
   * `_ingest.appliedAt - _ingest.receivedAt`, ms, over every stored document (with a re-sent
   * population: over the last version of each patient only).
   */
  acceptedToStoredMs: { p50: number | null; p99: number | null; p99_9: number | null; max: number | null };
  timeline: TimelinePoint[];
};

type Options = {
  label: string;
  phase: string;
  round: number;
  durationS: number;
  rate: number;
  target: { queue: string; db: string };
  /**
   * Re-send this many patients, stored beforehand in an older version (each request re-sends the
   * next one; as many as the load sends, so each is sent once); absent: every request is a new patient.
   */
  population?: number;
};

async function endToEndRun(ctx: Ctx, o: Options): Promise<{ run: E2ERun; loadStartedAt: number; rssFrom: number; apiLabel: string; workerLabel: string }> {
  const p = ctx.params;
  ctx.rss.phase = o.phase;
  const apiLabel = `api-${o.label}`;
  const workerLabel = `worker-${o.label}`;
  const base = takeIds(o.population ?? Math.ceil(o.rate * o.durationS * 2) + 1000);
  if (o.population) await prestore(ctx, o.target.db, base, o.population);
  const api = await startHttp(ctx, 'api', o.target, apiLabel);
  const worker = await startWorker(ctx, 'worker', o.target, workerLabel);
  const queue = openQueue(ctx, o.target.queue);
  const depth: { t: number; depth: number }[] = [];
  const accepted: number[] = [];
  try {
    const idOf = (i: number) => base + (o.population ? i % o.population : i);
    const loadStartedAt = Date.now();
    const rssFrom = ctx.rss.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = (Date.now() - loadStartedAt) / 1000;
        depth.push({ t, depth: (await queueDepth(queue)).pending });
        await sleep(p.queueSampleMs);
      }
    })();
    say(`${o.label}: offered ${o.rate} req/s for ${o.durationS} s (${p.connections} connections)`);
    const http = await runLoad({
      label: o.label,
      url: `${api.url}/api/patients`,
      connections: p.connections,
      durationS: o.durationS,
      overallRate: o.rate,
      body: (i) => patientBody(idOf(i)),
      onTick: (n) => accepted.push(n),
    });
    const loadEndedAt = Date.now();
    sampling = false;
    await sampler;
    const tail = await waitDrained(queue, Math.max(30, o.durationS));
    ctx.checkDeadline();

    // Only what this load sent (a re-sent population was stored before it, an hour older).
    const docs = (
      await ctx.mongo
        .db(o.target.db)
        .collection<{ _ingest: { receivedAt: Date; appliedAt: Date } }>('patients')
        .find({}, { projection: { '_ingest.receivedAt': 1, '_ingest.appliedAt': 1 } })
        .toArray()
    ).filter((d) => d._ingest.receivedAt.getTime() >= loadStartedAt);
    const lat = docs.map((d) => d._ingest.appliedAt.getTime() - d._ingest.receivedAt.getTime()).sort((a, b) => a - b);
    const seconds = Math.ceil(o.durationS);
    // Each patient is sent once (new, or a re-send of its own stored patient): count by the documents.
    const storedDuringLoad = docs.filter((d) => d._ingest.appliedAt.getTime() <= loadEndedAt).length;
    const storedBySecond = new Array<number>(seconds).fill(0);
    for (const d of docs) {
      const s = Math.floor((d._ingest.appliedAt.getTime() - loadStartedAt) / 1000);
      if (s >= 0 && s < seconds) storedBySecond[s]! += 1;
    }
    const timeline: TimelinePoint[] = storedBySecond.map((storedPerS, s) => {
      const inSecond = depth.filter((x) => x.t >= s && x.t < s + 1);
      return { t: s, queueDepth: inSecond.length ? Math.max(...inSecond.map((x) => x.depth)) : null, acceptedPerS: accepted[s] ?? null, storedPerS };
    });
    const run: E2ERun = {
      offeredRate: o.rate,
      population: o.population ?? null,
      failed: tail.failed,
      durationS: http.durationS,
      http,
      acceptedPerS: http.rps,
      storedDuringLoad,
      storedPerS: storedDuringLoad / http.durationS,
      storedTotal: docs.length,
      drainTailS: round(tail.seconds, 2) ?? 0,
      maxQueueDepth: depth.reduce((m, x) => Math.max(m, x.depth), 0),
      acceptedToStoredMs: { p50: percentileSorted(lat, 50), p99: percentileSorted(lat, 99), p99_9: percentileSorted(lat, 99.9), max: lat.at(-1) ?? null },
      timeline,
    };
    say(`  ${o.label}: accepted ${run.acceptedPerS.toFixed(0)}/s, stored ${run.storedPerS.toFixed(0)}/s, max queue depth ${run.maxQueueDepth}, 202->stored p50 ${run.acceptedToStoredMs.p50} ms p99 ${run.acceptedToStoredMs.p99} ms, tail ${run.drainTailS} s`);
    return { run, loadStartedAt, rssFrom, apiLabel, workerLabel };
  } finally {
    await api.stop();
    await worker.stop();
    await queue.close();
    await flushRedis(ctx);
    await dropDb(ctx, o.target.db);
  }
}

export type EndToEndResult = {
  offeredRate: number;
  rateRule: string;
  rounds: E2ERun[];
  medians: { acceptedPerS: number | null; storedPerS: number | null; p50Ms: number | null; p99Ms: number | null; maxQueueDepth: number | null };
};

export async function endToEnd(ctx: Ctx, rate: number, rateRule: string): Promise<EndToEndResult> {
  const p = ctx.params;
  const rounds: E2ERun[] = [];
  for (let r = 1; r <= p.rounds; r++) {
    ctx.checkDeadline();
    say(`scenario 4 round ${r}/${p.rounds}`);
    const { run } = await endToEndRun(ctx, { label: `s4-r${r}`, phase: 's4', round: r, durationS: p.e2eS, rate, target: { queue: `e2e-r${r}`, db: `bench_e2e_r${r}` } });
    rounds.push(run);
  }
  return {
    offeredRate: rate,
    rateRule,
    rounds,
    medians: {
      acceptedPerS: median(rounds.map((x) => x.acceptedPerS)),
      storedPerS: median(rounds.map((x) => x.storedPerS)),
      p50Ms: median(rounds.map((x) => x.acceptedToStoredMs.p50 ?? NaN)),
      p99Ms: median(rounds.map((x) => x.acceptedToStoredMs.p99 ?? NaN)),
      maxQueueDepth: median(rounds.map((x) => x.maxQueueDepth)),
    },
  };
}

export type SoakResult = {
  offeredRate: number;
  durationS: number;
  earlyAtS: number;
  windowS: number;
  note: string;
  run: E2ERun;
  rss: Record<'api' | 'worker', { earlyMB: number | null; endMB: number | null; growth: number | null; peakMB: number | null }>;
  /** RSS per process, one point per second since the load started. */
  series: Record<'api' | 'worker', { t: number; rssMB: number }[]>;
};

/** `rate`: half the update rate scenario 3 measured at the large registry size (run.ts). */
export async function soak(ctx: Ctx, rate: number): Promise<SoakResult> {
  const p = ctx.params;
  const population = Math.max(p.soakPopulation, Math.ceil(rate * p.soakS * 1.1));
  const r = await endToEndRun(ctx, { label: 'soak', phase: 'soak', round: 1, durationS: p.soakS, rate, population, target: { queue: 'soak', db: 'bench_soak' } });
  // RSS "at" a moment is the median over a short window ending there: one sample can catch a GC peak.
  const windowS = Math.max(p.soakEarlyS / 6, (3 * p.rssIntervalMs) / 1000);
  const of = (label: string) => ctx.rss.samples.filter((s: RssSample) => s.label === label).map((s) => ({ t: s.t - r.rssFrom, rssMB: s.rssMB }));
  const at = (xs: { t: number; rssMB: number }[], t: number) => median(xs.filter((x) => x.t > t - windowS && x.t <= t).map((x) => x.rssMB));
  const summarize = (label: string) => {
    const xs = of(label).filter((x) => x.t >= 0 && x.t <= r.run.durationS + 0.5);
    const earlyMB = at(xs, p.soakEarlyS);
    const endMB = at(xs, Math.min(p.soakS, r.run.durationS));
    return { earlyMB, endMB, growth: earlyMB && endMB ? endMB / earlyMB - 1 : null, peakMB: xs.length ? Math.max(...xs.map((x) => x.rssMB)) : null };
  };
  const perSecond = (label: string) => {
    const out: { t: number; rssMB: number }[] = [];
    // While the load runs only: afterwards the idle process shrinks its heap, which says nothing.
    for (const x of of(label)) if (x.t >= 0 && x.t <= r.run.durationS && (out.length === 0 || Math.floor(x.t) > out.at(-1)!.t)) out.push({ t: Math.floor(x.t), rssMB: round(x.rssMB, 1)! });
    return out;
  };
  const who = `re-sends of ${population.toLocaleString('en-US')} stored patients, each sent once`;
  const note =
    p.soakS >= 300 && p.soakEarlyS === 60
      ? `RSS after 1 minute vs after 5 minutes of steady load (${who})`
      : `shortened soak (${p.mode} mode): RSS after ${p.soakEarlyS} s vs after ${p.soakS} s, not the 1 vs 5 minutes of the full run (${who})`;
  return {
    offeredRate: rate,
    durationS: p.soakS,
    earlyAtS: p.soakEarlyS,
    windowS,
    note,
    run: r.run,
    rss: { api: summarize(r.apiLabel), worker: summarize(r.workerLabel) },
    series: { api: perSecond(r.apiLabel), worker: perSecond(r.workerLabel) },
  };
}
