// Preloaded into a process under test (NODE_OPTIONS=--import=<this file>): reports on stderr every
// OpenTelemetry SDK-side module the process loads, so a test can tell whether tracing was loaded at all.
import { registerHooks } from 'node:module';

const SDK_SIDE = /\/node_modules\/(@opentelemetry\/(sdk-|instrumentation|exporter-)|import-in-the-middle\/|bullmq-otel\/)[^/]+/;
const reported = new Set<string>();

registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const m = SDK_SIDE.exec(resolved.url);
    if (m && !reported.has(m[0])) {
      reported.add(m[0]);
      process.stderr.write(`otel-load ${m[0].replace(/.*\/node_modules\//, '')}\n`);
    }
    return resolved;
  },
});
