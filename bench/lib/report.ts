// Turns a run into the three files: latest.json (everything, with targets computed here from the
// measurements), latest.md (a short human table) and latest.svg (throughput, latency percentiles,
// the end-to-end timeline and the soak's RSS), the SVG written by hand.
import type { Mode, Params } from './modes.ts';
import type { RssSample } from './procs.ts';
import type { DrainResult } from '../scenarios/drain.ts';
import type { EndToEndResult, SoakResult } from '../scenarios/end-to-end.ts';
import type { IntakeBatchResult, IntakeSingleResult } from '../scenarios/intake.ts';
import { round } from './util.ts';
import { partitionsMarkdown } from './partitions-report.ts';
import type { PartitionsResult } from '../scenarios/partitions.ts';

export type TargetRow = {
  name: string;
  measured: number | null;
  target: number;
  unit: string;
  comparator: '>=' | '<=';
  /** null when the scenario did not run or is not available (never guessed). */
  met: boolean | null;
  note?: string;
};

export type MemoryResult = {
  /** Peak RSS (MB) of the real processes under load in scenarios 1-4. */
  apiPeakMB: number | null;
  workerPeakMB: number | null;
  /** Per process label (every process the run started, references included): RSS at the first sample (about idle, just started) and peak. */
  byProcess: Record<string, { role: string; phase: string; firstMB: number; peakMB: number; samples: number }>;
  soak: SoakResult['rss'] | null;
  soakNote: string | null;
};

export type BenchResults = {
  schema: 1;
  mode: Mode;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  commit: string | null;
  machine: {
    cpus: number;
    cpuModel: string | null;
    memoryGiB: number | null;
    node: string;
    platform: string;
    redis: string | null;
    mongo: string;
    loadavgAtStart: number[];
    loadavgAtEnd: number[];
  };
  params: Params;
  steps: string[];
  scenarios: {
    intakeSingle?: IntakeSingleResult;
    intakeBatch?: IntakeBatchResult;
    drain?: DrainResult;
    endToEnd?: EndToEndResult;
    soak?: SoakResult;
    partitions?: PartitionsResult;
  };
  memory: MemoryResult | null;
  targets: TargetRow[];
};

const LOAD_PHASES = new Set(['s1', 's2', 's3', 's4']);

export function peakRss(samples: RssSample[], soak: SoakResult | null): MemoryResult {
  const byProcess: MemoryResult['byProcess'] = {};
  for (const s of samples) {
    const cur = byProcess[s.label];
    if (!cur) byProcess[s.label] = { role: s.role, phase: s.phase, firstMB: round(s.rssMB, 1)!, peakMB: round(s.rssMB, 1)!, samples: 1 };
    else {
      cur.samples++;
      cur.peakMB = Math.max(cur.peakMB, round(s.rssMB, 1)!);
    }
  }
  const peak = (role: string) => {
    const xs = samples.filter((s) => s.role === role && LOAD_PHASES.has(s.phase)).map((s) => s.rssMB);
    return xs.length ? round(Math.max(...xs), 1) : null;
  };
  return { apiPeakMB: peak('api'), workerPeakMB: peak('worker'), byProcess, soak: soak?.rss ?? null, soakNote: soak?.note ?? null };
}

function row(name: string, measured: number | null | undefined, comparator: '>=' | '<=', target: number, unit: string, note?: string): TargetRow {
  const m = measured === undefined || measured === null || !Number.isFinite(measured) ? null : round(measured, unit === 'ms' || unit === 'MB' ? 1 : 2);
  const met = m === null ? null : comparator === '>=' ? m >= target : m <= target;
  return { name, measured: m, target, unit, comparator, met, ...(note ? { note } : {}) };
}

/** One row per target of issue 6, from the measurements of this run only. */
export function computeTargets(r: BenchResults): TargetRow[] {
  const s1 = r.scenarios.intakeSingle;
  const s2 = r.scenarios.intakeBatch;
  const s3 = r.scenarios.drain;
  const soak = r.scenarios.soak;
  const notRun = (step: string) => (r.steps.includes(step) ? undefined : 'not run (--only)');
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? null : x * 100);
  const batch1000 = s2?.available ? s2.sizes.find((x) => x.size === 1000) : undefined;
  const batchNote = !s2 ? notRun('s2') : !s2.available ? `not available: ${s2.reason}` : batch1000 ? undefined : 'batch size 1000 not measured';
  const soakNote = soak ? soak.note : notRun('s5');
  const conn = s1 ? `at ${s1.connections} connections` : 'at 64 connections';
  return [
    row('intake single: throughput vs bare 202 (HTTP limit)', pct(s1?.ratios.serviceVsBare202), '>=', 50, '%', notRun('s1')),
    row(`intake single: p99 latency ${conn}`, s1?.medians.service.p99, '<=', 25, 'ms', notRun('s1')),
    row('intake single: throughput vs synchronous direct-to-MongoDB route', s1?.ratios.serviceVsSyncMongo, '>=', 3, 'x', notRun('s1')),
    row('intake batches of 1000: patients/s', batch1000?.medians.servicePatientsPerS, '>=', 50_000, 'patients/s', batchNote),
    row('drain of new patients by one worker vs raw bulkWrite (database limit)', pct(s3?.ratios.workerVsRawNew), '>=', 60, '%', notRun('s3')),
    row('API peak RSS under load (scenarios 1-4)', r.memory?.apiPeakMB, '<=', 150, 'MB'),
    row('worker peak RSS under load (scenarios 3-4)', r.memory?.workerPeakMB, '<=', 200, 'MB'),
    row('API RSS growth during the soak', pct(soak?.rss.api.growth), '<=', 10, '%', soakNote),
    row('worker RSS growth during the soak', pct(soak?.rss.worker.growth), '<=', 10, '%', soakNote),
  ];
}

// ---------------------------------------------------------------- markdown

const n = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const x2 = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${x.toFixed(2)}x`);
const pc = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(0)} %`);

export function renderMarkdown(r: BenchResults): string {
  const L: string[] = [];
  const m = r.machine;
  L.push(`# Benchmark results (${r.mode} mode)`, '');
  L.push(`${r.startedAt} · ${r.durationS} s · commit ${r.commit ?? 'n/a'} · ${m.cpus} CPU (${m.cpuModel ?? '?'}), ${m.memoryGiB} GiB · Node ${m.node} · Redis ${m.redis ?? '?'} · ${m.mongo}`);
  L.push(`load average at start ${m.loadavgAtStart.join(' ')}, at end ${m.loadavgAtEnd.join(' ')} · medians of ${r.params.rounds} round(s) · ratios are medians of per-round ratios within this run`, '');
  if (r.mode !== 'full') L.push(`> ${r.mode} mode: shorter loads, ${r.params.drainJobs} drain jobs, ${r.params.soakS} s soak. Use the full run for numbers to quote.`, '');

  L.push('## Targets', '', '| target | measured | goal | met |', '| --- | ---: | ---: | :---: |');
  for (const t of r.targets) {
    const unit = t.unit === 'x' ? 'x' : ` ${t.unit}`;
    L.push(`| ${t.name} | ${t.measured === null ? 'n/a' : `${n(t.measured, t.unit === 'x' ? 2 : 1)}${unit}`} | ${t.comparator} ${n(t.target)}${unit} | ${t.met === null ? `– ${t.note ?? ''}` : t.met ? 'yes' : '**no**'} |`);
  }

  const s1 = r.scenarios.intakeSingle;
  if (s1) {
    L.push('', `## 1. Intake, one patient per request (${s1.connections} connections, ${s1.durationS} s per round)`, '');
    L.push('| server | req/s | p50 ms | p99 ms | p99.9 ms | server CPU µs per request | service ÷ this |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    const names = { service: 'API (validate + enqueue)', bare202: 'bare 202 (HTTP limit)', syncMongo: 'sync replaceOne to MongoDB' } as const;
    for (const k of ['service', 'bare202', 'syncMongo'] as const) {
      const md = s1.medians[k];
      const rat = k === 'service' ? '' : k === 'bare202' ? pc(s1.ratios.serviceVsBare202) : x2(s1.ratios.serviceVsSyncMongo);
      L.push(`| ${names[k]} | ${n(md.rps)} | ${n(md.p50)} | ${n(md.p99)} | ${n(md.p99_9)} | ${n(md.cpuUsPerRequest)} | ${rat} |`);
    }
  }
  const s2 = r.scenarios.intakeBatch;
  if (s2) {
    L.push('', '## 2. Intake, batches', '');
    if (!s2.available) L.push(`Not available: ${s2.reason}. No numbers recorded.`);
    else {
      L.push(`${s2.connections} connections, ${s2.durationS} s per round.`, '', '| batch size | API patients/s | bare 202 patients/s | API ÷ bare | API p99 ms per request | CPU µs per patient: API / bare |', '| ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const b of s2.sizes) L.push(`| ${b.size} | ${n(b.medians.servicePatientsPerS)} | ${n(b.medians.bare202PatientsPerS)} | ${pc(b.ratioVsBare202)} | ${n(b.medians.serviceP99Ms)} | ${n(b.medians.serviceCpuUsPerPatient)} / ${n(b.medians.bare202CpuUsPerPatient, 1)} |`);
    }
  }
  const s3 = r.scenarios.drain;
  if (s3) {
    L.push('', `## 3. Drain of ${n(s3.records)} queued records (each writer at most ${s3.maxSeconds} s)`, '');
    L.push(`Records queued in jobs of ${s3.recordsPerJob}, as the API queues a batch request. Worker concurrency ${s3.workerConcurrency}. Updates: ${n(s3.updates)} stored patients re-sent in a newer version.`, '');
    L.push('| writer | written (median) | seconds | records/s | ratio |', '| --- | ---: | ---: | ---: | ---: |');
    const med = (runs: { stored: number; seconds: number; complete: boolean }[]) => {
      const sorted = [...runs].sort((a, b) => a.stored - b.stored);
      const m = sorted[Math.floor(sorted.length / 2)];
      return m ? `${n(m.stored)}${m.complete ? '' : ' (time limit)'} | ${n(m.seconds, 1)}` : 'n/a | n/a';
    };
    L.push(`| new patients: one worker process | ${med(s3.rounds.workerNew)} | ${n(s3.medians.workerNewPerS)} | ${pc(s3.ratios.workerVsRawNew)} of raw |`);
    L.push(`| new patients: raw driver, unordered bulkWrite × ${s3.rawBatchSize} of \`${s3.rawOperation.new}\` (database limit) | ${med(s3.rounds.rawNew)} | ${n(s3.medians.rawNewPerS)} | |`);
    L.push(`| new patients: two worker processes | ${med(s3.rounds.twoWorkersNew)} | ${n(s3.medians.twoWorkersNewPerS)} | ${x2(s3.ratios.twoWorkersVsOne)} one worker |`);
    L.push(`| updates of stored patients: one worker process | ${med(s3.rounds.workerUpdate)} | ${n(s3.medians.workerUpdatePerS)} | ${pc(s3.ratios.workerVsRawUpdate)} of raw |`);
    L.push(`| updates: raw driver, unordered bulkWrite × ${s3.rawBatchSize} of \`${s3.rawOperation.update}\` (database limit) | ${med(s3.rounds.rawUpdate)} | ${n(s3.medians.rawUpdatePerS)} | |`);
  }
  const s4 = r.scenarios.endToEnd;
  if (s4) {
    L.push('', `## 4. End to end at ${n(s4.offeredRate)} req/s offered`, '', `Offered load: ${s4.rateRule}.`, '');
    L.push('| accepted/s | stored/s | max queue depth | 202 → stored p50 ms | p99 ms |', '| ---: | ---: | ---: | ---: | ---: |');
    L.push(`| ${n(s4.medians.acceptedPerS)} | ${n(s4.medians.storedPerS)} | ${n(s4.medians.maxQueueDepth)} | ${n(s4.medians.p50Ms)} | ${n(s4.medians.p99Ms)} |`);
  }
  const mem = r.memory;
  if (mem) {
    L.push('', '## 5. Memory (RSS from /proc/<pid>/status)', '');
    L.push(`Peak under load (scenarios 1-4): API ${n(mem.apiPeakMB, 1)} MB, worker ${n(mem.workerPeakMB, 1)} MB.`);
    const soak = r.scenarios.soak;
    if (soak && mem.soak) {
      L.push('', `Soak at ${n(soak.offeredRate)} req/s for ${soak.durationS} s (${soak.note}); RSS is the median over ${round(soak.windowS, 1)} s ending at each point.`, '');
      L.push(`| process | RSS at ${soak.earlyAtS} s | RSS at ${soak.durationS} s | growth | peak |`, '| --- | ---: | ---: | ---: | ---: |');
      for (const k of ['api', 'worker'] as const) {
        const s = mem.soak[k];
        L.push(`| ${k} | ${n(s.earlyMB, 1)} MB | ${n(s.endMB, 1)} MB | ${s.growth === null ? 'n/a' : `${(s.growth * 100).toFixed(1)} %`} | ${n(s.peakMB, 1)} MB |`);
      }
      L.push('', `Soak: accepted ${n(soak.run.acceptedPerS)}/s, stored ${n(soak.run.storedPerS)}/s, max queue depth ${n(soak.run.maxQueueDepth)}, 202 → stored p50 ${n(soak.run.acceptedToStoredMs.p50)} ms, p99 ${n(soak.run.acceptedToStoredMs.p99)} ms.`);
    }
  }
  if (r.scenarios.partitions) L.push('', ...partitionsMarkdown(r.scenarios.partitions));
  L.push('', 'Raw numbers, per round: `latest.json`. Chart: `latest.svg`. Method: `bench/README.md`.', '');
  return L.join('\n');
}

// ---------------------------------------------------------------- SVG

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const COLORS = { main: '#1f6feb', ref: '#8b949e', ref2: '#d29922', ref3: '#a371f7', good: '#2da44e', bad: '#cf222e' };

type Bar = { label: string; value: number | null; color: string; note?: string };

/** A titled group of horizontal bars, each scaled to the group's largest value. Returns its height. */
function barGroup(out: string[], x: number, y: number, w: number, title: string, unit: string, bars: Bar[]): number {
  const labelW = 200;
  const barH = 18;
  const gap = 6;
  out.push(`<text x="${x}" y="${y + 14}" class="h">${esc(title)}</text>`);
  const max = Math.max(1e-9, ...bars.map((b) => b.value ?? 0));
  bars.forEach((b, i) => {
    const by = y + 24 + i * (barH + gap);
    out.push(`<text x="${x}" y="${by + 13}" class="l">${esc(b.label)}</text>`);
    if (b.value === null) {
      out.push(`<text x="${x + labelW}" y="${by + 13}" class="v">${esc(b.note ?? 'not available')}</text>`);
      return;
    }
    const bw = Math.max(1, ((w - labelW - 190) * b.value) / max);
    out.push(`<rect x="${x + labelW}" y="${by}" width="${bw.toFixed(1)}" height="${barH}" fill="${b.color}" rx="2"/>`);
    out.push(`<text x="${x + labelW + bw + 6}" y="${by + 13}" class="v">${fmt(b.value)} ${esc(unit)}${b.note ? ` ${esc(b.note)}` : ''}</text>`);
  });
  return 24 + bars.length * (barH + gap) + 14;
}

/** Grouped vertical bars: latency percentiles per server. Returns its height. */
function percentileChart(out: string[], x: number, y: number, w: number, title: string, groups: { label: string; values: (number | null)[]; color: string }[], keys: string[]): number {
  const h = 170;
  out.push(`<text x="${x}" y="${y + 14}" class="h">${esc(title)}</text>`);
  const top = y + 30;
  const base = top + h - 40;
  // Log scale: the synchronous route's seconds and the API's milliseconds on one chart.
  const max = Math.max(1, ...groups.flatMap((g) => g.values.map((v) => v ?? 0)));
  const scale = (v: number) => Math.log10(1 + v) / Math.log10(1 + max);
  const slotW = w / keys.length;
  const barW = Math.min(34, (slotW - 20) / groups.length);
  out.push(`<line x1="${x}" y1="${base}" x2="${x + w}" y2="${base}" class="axis"/>`);
  keys.forEach((k, ki) => {
    const sx = x + ki * slotW + 10;
    groups.forEach((g, gi) => {
      const v = g.values[ki];
      if (v === null || v === undefined) return;
      const bh = Math.max(1, (base - top - 14) * scale(v));
      const bx = sx + gi * barW;
      out.push(`<rect x="${bx.toFixed(1)}" y="${(base - bh).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${bh.toFixed(1)}" fill="${g.color}"/>`);
      out.push(`<text x="${(bx + barW / 2 - 1).toFixed(1)}" y="${(base - bh - 3).toFixed(1)}" class="s" text-anchor="middle">${fmt(v)}</text>`);
    });
    out.push(`<text x="${(sx + (barW * groups.length) / 2).toFixed(1)}" y="${base + 14}" class="l" text-anchor="middle">${esc(k)}</text>`);
  });
  let lx = x;
  for (const g of groups) {
    out.push(`<rect x="${lx}" y="${base + 22}" width="10" height="10" fill="${g.color}"/><text x="${lx + 14}" y="${base + 31}" class="s">${esc(g.label)}</text>`);
    lx += 14 + g.label.length * 6.2 + 16;
  }
  return h + 30;
}

/** Line chart over time with its own y axis per series group (left: first unit). Returns its height. */
function lineChart(out: string[], x: number, y: number, w: number, title: string, series: { label: string; points: { t: number; v: number | null }[]; color: string }[], yUnit: string): number {
  const h = 190;
  out.push(`<text x="${x}" y="${y + 14}" class="h">${esc(title)}</text>`);
  const left = x + 48;
  const top = y + 28;
  const bottom = y + h - 40;
  const right = x + w - 10;
  const all = series.flatMap((s) => s.points.filter((p) => p.v !== null));
  if (all.length === 0) {
    out.push(`<text x="${left}" y="${top + 40}" class="v">no data</text>`);
    return h;
  }
  const tMax = Math.max(1, ...all.map((p) => p.t));
  const vMax = Math.max(1, ...all.map((p) => p.v!)) * 1.08;
  const sx = (t: number) => left + ((right - left) * t) / tMax;
  const sy = (v: number) => bottom - ((bottom - top) * v) / vMax;
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" class="axis"/><line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" class="axis"/>`);
  for (const f of [0, 0.5, 1]) {
    const v = (vMax / 1.08) * f;
    out.push(`<text x="${left - 4}" y="${sy(v) + 4}" class="s" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<text x="${left + 6}" y="${top + 10}" class="s">${esc(yUnit)}</text>`);
  out.push(`<text x="${right}" y="${bottom + 14}" class="s" text-anchor="end">${fmt(tMax)} s</text><text x="${left}" y="${bottom + 14}" class="s">0</text>`);
  for (const s of series) {
    const pts = s.points.filter((p) => p.v !== null).map((p) => `${sx(p.t).toFixed(1)},${sy(p.v!).toFixed(1)}`);
    if (pts.length) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
  }
  let lx = left;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${bottom + 22}" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="${bottom + 31}" class="s">${esc(s.label)}</text>`);
    lx += 14 + s.label.length * 6.2 + 16;
  }
  return h;
}

export function renderSvg(r: BenchResults): string {
  const W = 1120;
  const colW = 520;
  const out: string[] = [];
  let yl = 60;
  let yr = 60;
  const xl = 20;
  const xr = 20 + colW + 30;
  const s1 = r.scenarios.intakeSingle;
  const s2 = r.scenarios.intakeBatch;
  const s3 = r.scenarios.drain;
  const s4 = r.scenarios.endToEnd;
  const soak = r.scenarios.soak;

  if (s1) {
    yl += barGroup(out, xl, yl, colW, `1. Intake, one patient per request (${s1.connections} connections)`, 'req/s', [
      { label: 'API: validate + enqueue', value: s1.medians.service.rps, color: COLORS.main },
      { label: 'bare 202 (HTTP limit)', value: s1.medians.bare202.rps, color: COLORS.ref, note: `(API = ${pc(s1.ratios.serviceVsBare202)})` },
      { label: 'sync replaceOne to MongoDB', value: s1.medians.syncMongo.rps, color: COLORS.ref2, note: `(API = ${x2(s1.ratios.serviceVsSyncMongo)})` },
    ]);
  }
  if (s2) {
    const bars: Bar[] = s2.available
      ? s2.sizes.flatMap((b) => [
          { label: `API, batches of ${b.size}`, value: b.medians.servicePatientsPerS, color: COLORS.main },
          { label: `bare 202, batches of ${b.size}`, value: b.medians.bare202PatientsPerS, color: COLORS.ref, note: `(API = ${pc(b.ratioVsBare202)})` },
        ])
      : [{ label: 'POST /api/patients/batch', value: null, color: COLORS.ref, note: `not available (${s2.reason})` }];
    yl += barGroup(out, xl, yl, colW, '2. Intake, batches', 'patients/s', bars);
  }
  if (s3) {
    yl += barGroup(out, xl, yl, colW, `3. Drain of ${s3.records.toLocaleString("en-US")} queued records`, "records/s", [
      { label: 'new: one worker', value: s3.medians.workerNewPerS, color: COLORS.main },
      { label: `new: raw ${s3.rawOperation.new} (DB limit)`, value: s3.medians.rawNewPerS, color: COLORS.ref, note: `(worker = ${pc(s3.ratios.workerVsRawNew)})` },
      { label: 'new: two workers', value: s3.medians.twoWorkersNewPerS, color: COLORS.main, note: `(${x2(s3.ratios.twoWorkersVsOne)} one)` },
      { label: 'updates: one worker', value: s3.medians.workerUpdatePerS, color: COLORS.main },
      { label: `updates: raw ${s3.rawOperation.update}`, value: s3.medians.rawUpdatePerS, color: COLORS.ref2, note: `(worker = ${pc(s3.ratios.workerVsRawUpdate)})` },
    ]);
  }
  if (r.memory) {
    yl += barGroup(out, xl, yl, colW, '5. Peak RSS under load (scenarios 1-4)', 'MB', [
      { label: 'API (target ≤ 150 MB)', value: r.memory.apiPeakMB, color: (r.memory.apiPeakMB ?? 0) <= 150 ? COLORS.good : COLORS.bad },
      { label: 'worker (target ≤ 200 MB)', value: r.memory.workerPeakMB, color: (r.memory.workerPeakMB ?? 0) <= 200 ? COLORS.good : COLORS.bad },
    ]);
  }

  if (s1) {
    const keys = ['p50', 'p99', 'p99.9'];
    const g = (k: 'service' | 'bare202' | 'syncMongo') => [s1.medians[k].p50, s1.medians[k].p99, s1.medians[k].p99_9];
    yr += percentileChart(out, xr, yr, colW, '1. Latency percentiles, one patient per request (ms, log scale)', [
      { label: 'API', values: g('service'), color: COLORS.main },
      { label: 'bare 202', values: g('bare202'), color: COLORS.ref },
      { label: 'sync to MongoDB', values: g('syncMongo'), color: COLORS.ref2 },
    ], keys);
  }
  if (s4 && s4.rounds.length) {
    const run = s4.rounds[Math.floor(s4.rounds.length / 2)]!;
    yr += lineChart(out, xr, yr, colW, `4. End to end at ${s4.offeredRate} req/s offered (202 → stored p50 ${fmt(s4.medians.p50Ms ?? 0)} ms, p99 ${fmt(s4.medians.p99Ms ?? 0)} ms)`, [
      { label: 'accepted/s', points: run.timeline.map((p) => ({ t: p.t, v: p.acceptedPerS })), color: COLORS.main },
      { label: 'stored/s', points: run.timeline.map((p) => ({ t: p.t, v: p.storedPerS })), color: COLORS.good },
      { label: 'queue depth (max in second)', points: run.timeline.map((p) => ({ t: p.t, v: p.queueDepth })), color: COLORS.ref2 },
    ], 'per s / jobs');
  }
  if (soak) {
    yr += lineChart(out, xr, yr, colW, `5. RSS during the soak (${soak.durationS} s at ${soak.offeredRate} req/s)`, [
      { label: `API (growth ${pc(soak.rss.api.growth)})`, points: soak.series.api.map((p) => ({ t: p.t, v: p.rssMB })), color: COLORS.main },
      { label: `worker (growth ${pc(soak.rss.worker.growth)})`, points: soak.series.worker.map((p) => ({ t: p.t, v: p.rssMB })), color: COLORS.ref3 },
    ], 'MB');
  }

  const met = r.targets.filter((t) => t.met === true).length;
  const missed = r.targets.filter((t) => t.met === false).length;
  const H = Math.max(yl, yr) + 20;
  const header = [
    `<text x="20" y="26" class="t">hemo-patient-ingest benchmark · ${esc(r.mode)} mode · ${esc(r.startedAt.slice(0, 16).replace('T', ' '))} UTC</text>`,
    `<text x="20" y="44" class="s">${r.machine.cpus} CPU, Node ${esc(r.machine.node)}, ${esc(r.machine.mongo)} · medians of ${r.params.rounds} round(s) · targets met ${met}, missed ${missed}, n/a ${r.targets.length - met - missed}</text>`,
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.t{font-size:17px;font-weight:bold;fill:#24292f}.h{font-size:13px;font-weight:bold;fill:#24292f}.l{font-size:12px;fill:#24292f}.v{font-size:12px;fill:#57606a}.s{font-size:10.5px;fill:#57606a}.axis{stroke:#8c959f;stroke-width:1}</style>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...header,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
