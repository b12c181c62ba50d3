import type { Telemetry } from 'bullmq';

// What the entry points get from tracing.ts when it is on (tracing-sdk.ts makes it).
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
