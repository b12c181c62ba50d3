// Charts for latest.md as Mermaid `xychart-beta` blocks: GitHub and most Markdown viewers draw them,
// and the text stays diffable. The numbers come from the same results as the tables above them.
import type { BenchResults } from './report.ts';

type Series = { kind: 'bar' | 'line'; values: (number | null)[] };

const label = (s: string) => `"${s.replace(/"/g, "'")}"`;
/** At most `max` evenly spaced points, so a long timeline keeps a readable axis. */
const thin = <T>(xs: T[], max = 40): T[] => (xs.length <= max ? xs : xs.filter((_, i) => i % Math.ceil(xs.length / max) === 0));
const num = (v: number | null) => (v === null || !Number.isFinite(v) ? 0 : Math.round(v * 10) / 10);

/** One chart; a missing value is drawn as 0 (the table beside it says n/a). */
export function xychart(title: string, xLabels: string[], yLabel: string, series: Series[]): string {
  return [
    '```mermaid',
    'xychart-beta',
    `  title ${label(title)}`,
    `  x-axis [${xLabels.map(label).join(', ')}]`,
    `  y-axis ${label(yLabel)}`,
    ...series.map((s) => `  ${s.kind} [${s.values.map(num).join(', ')}]`),
    '```',
  ].join('\n');
}

/** The charts of a run: throughput per scenario, latency percentiles, the end-to-end timeline, the soak's RSS. */
export function renderCharts(r: BenchResults): string[] {
  const out: string[] = [];
  const { intakeSingle: s1, intakeBatch: s2, drain: s3, endToEnd: s4, soak } = r.scenarios;
  if (s1) {
    out.push(xychart('1. Intake, one patient per request', ['API', 'bare 202', 'sync MongoDB'], 'req/s', [{ kind: 'bar', values: [s1.medians.service.rps, s1.medians.bare202.rps, s1.medians.syncMongo.rps] }]));
    const p = (k: 'service' | 'bare202' | 'syncMongo') => [s1.medians[k].p50, s1.medians[k].p99, s1.medians[k].p99_9];
    out.push(xychart('1. Latency percentiles (ms): API, bare 202, sync MongoDB', ['p50', 'p99', 'p99.9'], 'ms', [
      { kind: 'bar', values: p('service') }, { kind: 'bar', values: p('bare202') }, { kind: 'bar', values: p('syncMongo') },
    ]));
  }
  if (s2?.available) {
    out.push(xychart('2. Intake, batches: API vs bare 202 (patients/s)', s2.sizes.map((b) => `batch ${b.size}`), 'patients/s', [
      { kind: 'bar', values: s2.sizes.map((b) => b.medians.servicePatientsPerS) }, { kind: 'bar', values: s2.sizes.map((b) => b.medians.bare202PatientsPerS) },
    ]));
  }
  if (s3) {
    const m = s3.medians;
    const u = s3.updates.medians;
    out.push(xychart('3. Drain (records/s)', ['new: 1 worker', 'new: raw', 'new: 2 workers', 'updates small: 1 worker', 'updates small: raw', 'updates large: 1 worker', 'updates large: raw'], 'records/s', [
      { kind: 'bar', values: [m.workerNewPerS, m.rawNewPerS, m.twoWorkersNewPerS, u.workerSmallPerS, u.rawSmallPerS, u.workerLargePerS, u.rawLargePerS] },
    ]));
  }
  if (s4 && s4.rounds.length > 0) {
    const run = s4.rounds[Math.floor(s4.rounds.length / 2)]!;
    const timeline = thin(run.timeline);
    out.push(xychart(`4. End to end at ${s4.offeredRate} req/s: accepted/s, stored/s, queue depth`, timeline.map((p) => `${p.t}s`), 'per s / jobs', [
      { kind: 'line', values: timeline.map((p) => p.acceptedPerS) }, { kind: 'line', values: timeline.map((p) => p.storedPerS) }, { kind: 'line', values: timeline.map((p) => p.queueDepth) },
    ]));
  }
  if (soak) {
    const points = thin(soak.series.api.map((p) => p.t));
    const at = (series: { t: number; rssMB: number | null }[]) => points.map((t) => series.find((p) => p.t === t)?.rssMB ?? null);
    out.push(xychart(`5. RSS during the soak (MB): API, worker`, points.map((t) => `${t}s`), 'MB', [
      { kind: 'line', values: at(soak.series.api) }, { kind: 'line', values: at(soak.series.worker) },
    ]));
  }
  return out;
}
