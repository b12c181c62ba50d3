// OpenTelemetry tracing: off unless configured (config.ts, tracingEnabled). Off, nothing of the SDK is
// loaded; on, the SDK starts (tracing-sdk.ts) BEFORE the entry point imports http, ioredis and the
// MongoDB driver, since instrumentations patch modules as they load. That is why the entry points
// (src/api/server.ts, src/worker/main.ts) call this first and import the process afterwards.
import { loadConfigOrExit } from '../entry.ts';
import { loadTracingConfig, tracingEnabled } from '../config/config.ts';
import type { Tracing } from './tracing-types.ts';

export type { Tracing } from './tracing-types.ts';

/** Starts tracing when configured; exits 2 naming the variable when a tracing setting is invalid. */
export async function startTracing(service: 'api' | 'worker', env: Record<string, string | undefined>): Promise<Tracing | undefined> {
  const config = loadConfigOrExit(service, env, loadTracingConfig);
  if (!tracingEnabled(config)) return undefined;
  const { startTracingSdk } = await import('./tracing-sdk.ts');
  return startTracingSdk(config, `hemo-${service}`);
}
