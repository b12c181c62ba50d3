// Scenario 6's table for latest.md (bench/scenarios/partitions.ts).
import { configKey, type PartitionsResult } from '../scenarios/partitions.ts';

const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: digits }));

export function partitionsMarkdown(s: PartitionsResult): string[] {
  const L = [`## 6. Queue partitions: 1 vs 4, single Redis and Redis Cluster (${s.clusterNodes} nodes), intake ${s.intakeS} s at ${s.connections} connections, one worker (concurrency ${s.workerConcurrency} per partition)`, ''];
  L.push('| Redis | partitions | WAIT replicas | intake req/s (median) | p99 ms | non-2xx | records per job | drain records/s (median) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [key, m] of Object.entries(s.medians)) {
    const run = s.runs.find((r) => configKey(r) === key);
    if (!run) continue;
    L.push(`| ${run.backend} | ${run.partitions} | ${run.waitReplicas} | ${num(m.intakeRps)} | ${num(run.intake.p99Ms)} | ${num(run.intake.non2xx)} | ${num(run.drain?.recordsPerJob, 1)} | ${num(m.drainPerS)}${s.runs.some((x) => configKey(x) === key && x.drain && !x.drain.complete) ? ' (a round not drained in time)' : ''} |`);
  }
  const r = s.ratios;
  L.push('', `4 ÷ 1 partitions: single Redis intake ${num(r.singleIntake, 2)}x, drain ${num(r.singleDrain, 2)}x; cluster intake ${num(r.clusterIntake, 2)}x, drain ${num(r.clusterDrain, 2)}x. WAIT 1 ÷ no WAIT (cluster, 4 partitions), intake: ${num(r.waitIntake, 2)}x.`);
  return L;
}
