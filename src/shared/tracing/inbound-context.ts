import type { IncomingMessage } from 'node:http';
import { trustedPeer, type TrustProxy } from '../trusted-proxy.ts';

// An inbound trace context is a client's claim: continued, it puts the client's trace id (and
// whatever it carries in tracestate or baggage) into our traces and into every record's job
// (issue 22). Only a proxy named in API_TRUST_PROXY may pass one on; anyone else's request starts
// a trace of its own. Every header a propagator of OTEL_PROPAGATORS reads: W3C Trace Context and
// Baggage, B3 single and multi.
const CONTEXT_HEADERS = ['traceparent', 'tracestate', 'baggage', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/**
 * Drops the trace-context headers of a request whose peer is not a trusted proxy. The HTTP
 * instrumentation has no option to skip extraction, and its propagator sees the headers only, not
 * the peer; so this runs as its ignoreIncomingRequestHook, the first thing it calls with each
 * request, before it extracts the context (instrumentation-http 0.300). test/integration/tracing.test.ts
 * checks both outcomes on a real process, so an upgrade that changes the order fails there.
 */
export function inboundContextFilter(trust: TrustProxy): (req: IncomingMessage) => void {
  const trusted = trustedPeer(trust);
  return (req) => {
    if (trusted(req.socket?.remoteAddress)) return;
    for (const name of CONTEXT_HEADERS) delete req.headers[name];
  };
}
