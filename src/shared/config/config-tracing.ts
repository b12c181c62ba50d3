import { z } from 'zod';
import { bool, trustProxy, url } from './config-values.ts';

// OpenTelemetry tracing, off unless one of these says where to send spans (tracingEnabled). Only the
// switch is read here; the SDK reads these and every other OTEL_* variable (sampler, headers...) itself.
const otlpProtocol = z.enum(['http/protobuf', 'http/json', 'grpc'], { error: 'must be http/protobuf, http/json or grpc' });
export const tracingShape = {
  OTEL_SDK_DISABLED: bool.default(false),
  OTEL_TRACES_EXPORTER: z.string().regex(/^(none|(otlp|console)(,(otlp|console))*)$/, 'must be none, otlp, console or otlp,console').optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(200).optional(),
};
// API_TRUST_PROXY (config.ts) too: the SDK starts before the configuration is read, and continues an
// inbound trace only from the proxies it names (tracing-sdk.ts).
export const TracingSchema = z.object({ ...tracingShape, API_TRUST_PROXY: trustProxy });
export type TracingConfig = z.infer<typeof TracingSchema>;

/** On when an exporter or an OTLP endpoint is configured, and not disabled. */
export function tracingEnabled(c: TracingConfig): boolean {
  if (c.OTEL_SDK_DISABLED || c.OTEL_TRACES_EXPORTER === 'none') return false;
  return c.OTEL_TRACES_EXPORTER !== undefined || c.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
}
