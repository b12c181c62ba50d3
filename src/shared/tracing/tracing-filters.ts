// Part of the tracing SDK side (loaded only when tracing is on): what keeps spans free of patient
// values whatever a library puts in them, and BullMQ's housekeeping out of the traces.
import { context, SpanStatusCode, trace, TraceFlags, type Context } from '@opentelemetry/api';
import type { Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Telemetry } from 'bullmq';
import { BullMQOTelSpan } from 'bullmq-otel';
import { randomBytes } from 'node:crypto';

/**
 * Error texts come from libraries (a driver's message may quote a document's values): a span keeps
 * that it failed and the error's type, never the message or stack. Runs as a span ends, before any
 * exporter sees it.
 */
export function withoutMessages(): SpanProcessor {
  return {
    onStart: () => {},
    onEnding: (span: Span) => {
      if (span.status.message !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
      for (const event of span.events) {
        if (event.name !== 'exception' || !event.attributes) continue;
        delete event.attributes['exception.message'];
        delete event.attributes['exception.stacktrace'];
      }
    },
    onEnd: () => {},
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

const SPAN_KIND_INTERNAL = 0; // BullMQ's SpanKind.INTERNAL, as in OpenTelemetry

/**
 * BullMQ traces its housekeeping too: waiting for a job, renewing locks, checking for stalled jobs,
 * every few seconds per worker, each a new trace. Such an operation outside any trace gets a span
 * that is not sampled (so are the Redis commands under it); everything in a request's or a job's
 * trace (add, process, retries) is kept.
 */
export function quietHousekeeping(telemetry: Telemetry<Context>): Telemetry<Context> {
  const tracer = telemetry.tracer;
  return {
    ...telemetry,
    tracer: {
      startSpan: (name, options, ctx) => {
        const parent = trace.getSpanContext(ctx ?? context.active());
        if (options?.kind !== SPAN_KIND_INTERNAL || (parent && trace.isSpanContextValid(parent))) return tracer.startSpan(name, options, ctx);
        const unsampled = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.NONE };
        return new BullMQOTelSpan(trace.wrapSpanContext(unsampled));
      },
    },
  };
}
