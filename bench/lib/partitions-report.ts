// Scenario 6's table for latest.md (bench/scenarios/partitions.ts).
import { configKey, type PartitionsResult } from '../scenarios/partitions.ts';
import { median } from './util.ts';

const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: digits }));

export function partitionsMarkdown(s: PartitionsResult): string[] {
  const L = [`## 6. Queue partitions: 1 vs 4, single Redis and Redis Cluster (${s.clusterNodes} nodes), intake ${s.intakeS} s at ${s.connections} connections, one worker (concurrency ${s.workerConcurrency} per partition)`, ''];
  L.push('| Redis | partitions | WAIT replicas | intake req/s (median) | p99 ms (median) | non-2xx (all rounds) | records per job (median) | drain records/s (median) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [key, m] of Object.entries(s.medians)) {
    const runs = s.runs.filter((r) => configKey(r) === key);
    const run = runs[0];
    if (!run) continue;
    const p99 = median(runs.map((r) => r.intake.p99Ms));
    const perJob = median(runs.flatMap((r) => (r.drain ? [r.drain.recordsPerJob] : [])));
    L.push(`| ${run.backend} | ${run.partitions} | ${run.waitReplicas} | ${num(m.intakeRps)} | ${num(p99)} | ${num(runs.reduce((a, r) => a + r.intake.non2xx, 0))} | ${num(perJob, 1)} | ${num(m.drainPerS)}${s.runs.some((x) => configKey(x) === key && x.drain && !x.drain.complete) ? ' (a round not drained in time)' : ''} |`);
  }
  const r = s.ratios;
  L.push('', `4 ÷ 1 partitions: single Redis intake ${num(r.singleIntake, 2)}x, drain ${num(r.singleDrain, 2)}x; cluster intake ${num(r.clusterIntake, 2)}x, drain ${num(r.clusterDrain, 2)}x. WAIT 1 ÷ no WAIT (cluster, 4 partitions), intake: ${num(r.waitIntake, 2)}x.`);
  return L;
}
