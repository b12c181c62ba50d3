// Turns a run into its two files: latest.json (everything, with targets computed here from the
// measurements) and latest.md (the tables, then the charts of charts.ts).
import type { Mode, Params } from './modes.ts';
import type { RssSample } from './procs.ts';
import type { DrainResult } from '../scenarios/drain.ts';
import type { EndToEndResult, SoakResult } from '../scenarios/end-to-end.ts';
import type { IntakeBatchResult, IntakeSingleResult } from '../scenarios/intake.ts';
import { renderCharts } from './charts.ts';
import { round } from './util.ts';
import { partitionsMarkdown } from './partitions-report.ts';
import { updatesMarkdown, updateTargets } from './updates-report.ts';
import type { PartitionsResult } from '../scenarios/partitions.ts';
import { importWaitMarkdown, type ImportWaitResult } from '../scenarios/import-wait.ts';

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
    importWait?: ImportWaitResult;
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
    row(`intake single: p99 latency ${conn}`, s1?.medians.service.p99, '<=', 20, 'ms', notRun('s1')),
    row('intake single: throughput vs synchronous direct-to-MongoDB route', s1?.ratios.serviceVsSyncMongo, '>=', 3, 'x', notRun('s1')),
    row('intake batches of 1000: patients/s', batch1000?.medians.servicePatientsPerS, '>=', 100_000, 'patients/s', batchNote),
    row('drain of new patients by one worker vs raw bulkWrite (database limit)', pct(s3?.ratios.workerVsRawNew), '>=', 60, '%', notRun('s3')),
    row('API peak RSS under load (scenarios 1-4)', r.memory?.apiPeakMB, '<=', 150, 'MB'),
    row('worker peak RSS under load (scenarios 3-4)', r.memory?.workerPeakMB, '<=', 200, 'MB'),
    row('API RSS growth during the soak', pct(soak?.rss.api.growth), '<=', 10, '%', soakNote),
    row('worker RSS growth during the soak', pct(soak?.rss.worker.growth), '<=', 10, '%', soakNote),
    row('import --wait: time to all decided ÷ time to all sent', r.scenarios.importWait?.ratio, '<=', 1.5, 'x', notRun('s7')),
    ...updateTargets(s3?.updates, soak).map(([name, measured, cmp, target, unit]) => row(name, measured, cmp, target, unit, name.startsWith('soak') ? soakNote : notRun('s3'))),
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
    L.push(`| ${t.name} | ${t.measured === null ? 'n/a' : `${n(t.measured, t.unit === 'x' ? 2 : 1)}${unit}`} | ${t.comparator} ${n(t.target, Number.isInteger(t.target) ? 0 : 2)}${unit} | ${t.met === null ? `– ${t.note ?? ''}` : t.met ? 'yes' : '**no**'} |`);
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
    L.push(`Records queued in jobs of ${s3.recordsPerJob}, as the API queues a batch request. Worker concurrency ${s3.workerConcurrency}.`, '');
    L.push('| writer | written (median) | seconds | records/s | ratio |', '| --- | ---: | ---: | ---: | ---: |');
    const med = (runs: { stored: number; seconds: number; complete: boolean }[]) => {
      const sorted = [...runs].sort((a, b) => a.stored - b.stored);
      const m = sorted[Math.floor(sorted.length / 2)];
      return m ? `${n(m.stored)}${m.complete ? '' : ' (time limit)'} | ${n(m.seconds, 1)}` : 'n/a | n/a';
    };
    L.push(`| new patients: one worker process | ${med(s3.rounds.workerNew)} | ${n(s3.medians.workerNewPerS)} | ${pc(s3.ratios.workerVsRawNew)} of raw |`);
    L.push(`| new patients: raw driver, unordered bulkWrite × ${s3.rawBatchSize} of \`${s3.rawOperation.new}\` (database limit) | ${med(s3.rounds.rawNew)} | ${n(s3.medians.rawNewPerS)} | |`);
    L.push(`| new patients: two worker processes | ${med(s3.rounds.twoWorkersNew)} | ${n(s3.medians.twoWorkersNewPerS)} | ${x2(s3.ratios.twoWorkersVsOne)} one worker |`);
    L.push(...updatesMarkdown(s3.updates));
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
  if (r.scenarios.importWait) L.push('', ...importWaitMarkdown(r.scenarios.importWait));
  const charts = renderCharts(r);
  if (charts.length > 0) L.push('', '## Charts', '', charts.join('\n\n'));
  L.push('', 'Raw numbers, per round: `latest.json`. Method: `bench/README.md`.', '');
  return L.join('\n');
}
