// Loaded only when tracing is on (tracing.ts). The OpenTelemetry Node SDK with the instrumentations
// for the HTTP server, ioredis and the MongoDB driver, and BullMQ's own telemetry interface. The SDK
// reads the OTEL_* variables (endpoint, headers, sampler, resource...) itself.
import { context, propagation, trace, type Link, type SpanContext } from '@opentelemetry/api';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { IncomingMessage } from 'node:http';
import { register } from 'import-in-the-middle/register-hooks.mjs';
import type { TracingConfig } from '../config/config.ts';
import { inboundContextFilter } from './inbound-context.ts';
import { quietHousekeeping, withoutMessages } from './tracing-filters.ts';
import type { Tracing } from './tracing-types.ts';

// Our own ESM imports of these (and bullmq's) go through the import hook; the driver's internal
// files and node:http (required by fastify) through require: both must be in place before they load.
const HOOKED = ['ioredis', 'mongodb'];
// Probes and scrapes are not traced: they would bury the requests.
const UNTRACED = /^\/(health\/|metrics)/;

export async function startTracingSdk(config: TracingConfig, defaultService: string): Promise<Tracing> {
  register({ include: HOOKED });
  const untrustedContext = inboundContextFilter(config.API_TRUST_PROXY);
  const sdk = new NodeSDK({
    ...(config.OTEL_SERVICE_NAME ? {} : { serviceName: defaultService }),
    instrumentations: [
      new HttpInstrumentation({
        disableOutgoingRequestInstrumentation: true,
        ignoreIncomingRequestHook: (req) => {
          untrustedContext(req); // before the context is extracted: a client's traceparent is not continued
          return UNTRACED.test(req.url ?? '');
        },
        // The raw path (ids) and query are replaced: the route template is set once routed (nameRequest).
        startIncomingSpanHook: (req) => ({ 'url.path': '(unrouted)', ...(hasQuery(req) ? { 'url.query': '(redacted)' } : {}) }),
      }),
      // Commands by name only: their arguments are keys and job data (records).
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
      // The operation only, never the command document (filters and documents hold patient values).
      new MongoDBInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false, dbStatementSerializer: () => '?' }),
    ],
    spanProcessors: [withoutMessages(), ...(await exportersFromEnv(config))],
    // Traces only: metrics stay with Prometheus (/metrics), logs with pino.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const { BullMQOtel } = await import('bullmq-otel');
  let stopping: Promise<void> | undefined;
  return {
    bullmq: quietHousekeeping(new BullMQOtel({ tracerName: 'hemo-patient-ingest' })),
    traceparent: () => {
      const carrier: { traceparent?: string } = {};
      propagation.inject(context.active(), carrier);
      return carrier.traceparent;
    },
    linkRecords: (records) => {
      const span = trace.getActiveSpan();
      if (!span?.isRecording()) return;
      const seen = new Set<string>();
      const links: Link[] = [];
      for (const record of records) {
        const tp = (record as { traceparent?: unknown } | null)?.traceparent;
        if (typeof tp !== 'string' || seen.has(tp)) continue;
        seen.add(tp);
        const linked = remoteContext(tp);
        if (linked) links.push({ context: linked });
      }
      if (links.length > 0) span.addLinks(links);
    },
    nameRequest: (method, route) => {
      const span = trace.getActiveSpan();
      if (!span?.isRecording()) return;
      span.updateName(route ? `${method} ${route}` : method);
      if (route) span.setAttributes({ 'http.route': route, 'url.path': route });
    },
    shutdown: () => (stopping ??= sdk.shutdown().catch(() => {})),
  };
}

const hasQuery = (req: IncomingMessage) => (req.url ?? '').includes('?');

function remoteContext(traceparent: string): SpanContext | undefined {
  const linked = trace.getSpanContext(propagation.extract(context.active(), { traceparent }));
  return linked && trace.isSpanContextValid(linked) ? linked : undefined;
}

/** OTEL_TRACES_EXPORTER (otlp, the default, and/or console) over OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL. */
async function exportersFromEnv(config: TracingConfig): Promise<SpanProcessor[]> {
  const names = (config.OTEL_TRACES_EXPORTER ?? 'otlp').split(',');
  const processors: SpanProcessor[] = [];
  if (names.includes('console')) processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
  if (names.includes('otlp')) processors.push(new BatchSpanProcessor({ exporter: await otlpExporter(config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf') }));
  return processors;
}

// Only the exporter in use is loaded.
async function otlpExporter(protocol: 'http/protobuf' | 'http/json' | 'grpc'): Promise<SpanExporter> {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}
