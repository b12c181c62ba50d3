// OpenTelemetry tracing: off unless configured (config.ts, tracingEnabled). Off, nothing of the SDK is
// loaded; on, the SDK starts (tracing-sdk.ts) BEFORE the entry point imports http, ioredis and the
// MongoDB driver, since instrumentations patch modules as they load. That is why the entry points
// (src/api/server.ts, src/worker/main.ts) call this first and import the process afterwards.
import type { Telemetry } from 'bullmq';
import { loadConfigOrExit } from './entry.ts';
import { loadTracingConfig, tracingEnabled } from './config.ts';

export type Tracing = {
  /** BullMQ's own telemetry interface (bullmq-otel), for the `telemetry` option of Queue and Worker. */
  bullmq: Telemetry;
  /** The W3C `traceparent` of the active context (the request's), to carry with each record of a job. */
  traceparent: () => string | undefined;
  /** Links the active span (the worker's job span) to the traces of the records it holds (deduplicated). */
  linkRecords: (records: readonly unknown[]) => void;
  /** Names the active HTTP server span after the route template (never the raw path or query). */
  nameRequest: (method: string, route: string | undefined) => void;
  /** Exports what is buffered and stops; safe to call twice. */
  shutdown: () => Promise<void>;
};

/** Starts tracing when configured; exits 2 naming the variable when a tracing setting is invalid. */
export async function startTracing(service: 'api' | 'worker', env: Record<string, string | undefined>): Promise<Tracing | undefined> {
  const config = loadConfigOrExit(service, env, loadTracingConfig);
  if (!tracingEnabled(config)) return undefined;
  const { startTracingSdk } = await import('./tracing-sdk.ts');
  return startTracingSdk(config, `hemo-${service}`);
}
