import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createApiMetrics } from '../../src/api/metrics.ts';
import type { PatientQueue } from '../../src/shared/queue.ts';
import { createWorkerMetrics } from '../../src/worker/metrics.ts';

// The Grafana dashboard (deploy/grafana/patient-ingestion.json) queries only metrics the code
// registers, so renaming a metric without the dashboard fails here, not in an incident.

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/patient-ingestion.json', import.meta.url), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
// Only the names used for registration: queue_jobs is read at scrape time, which this test never does.
const noQueue = { getJobCounts: async () => ({}) };

async function registered(): Promise<Set<string>> {
  const names = new Set<string>();
  const registries = [createApiMetrics([noQueue as unknown as PatientQueue]).registry, createWorkerMetrics([{ partition: 0, queue: noQueue }]).registry];
  for (const registry of registries) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      // A histogram is scraped as its _bucket, _sum and _count series.
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    }
  }
  return names;
}

const PROMQL_WORDS = new Set(['sum', 'max', 'min', 'avg', 'by', 'rate', 'increase', 'histogram_quantile', 'without', 'le']);

/** Metric names in a PromQL expression: identifiers not followed by `(`, outside {matchers}, [ranges] and by (labels). */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '').replace(/\bby\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/\b([a-z_:][a-z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((w) => !PROMQL_WORDS.has(w) && !/^\d/.test(w));
}

describe('the Grafana dashboard', () => {
  it('when its queries are read, then every metric they name is one the API or the worker registers', async () => {
    const known = await registered();
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr)));
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(known, `${name} is not registered by src/api/metrics.ts or src/worker/metrics.ts`).toContain(name);
  });

  it('when its panels are listed, then intake, answers by status, queue depth, drain by outcome, 202-to-stored latency, dead letters and retries are there', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const metric of ['patients_enqueued_total', 'http_requests_total', 'queue_jobs', 'worker_jobs_completed_total', 'ingest_latency_seconds_bucket', 'worker_dead_letters_total', 'worker_job_retries_total']) {
      expect(exprs, metric).toContain(metric);
    }
    expect(exprs).toMatch(/by \(status\)/);
    expect(exprs).toMatch(/by \(outcome\)/);
  });
});
