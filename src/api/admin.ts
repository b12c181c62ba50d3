import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireScope } from './auth.ts';
import { boardGuard } from './board-guard.ts';
import type { PatientQueue } from '../shared/queue.ts';

const HIDDEN = '[hidden: patient data is not shown here]';

// The dashboard's page loads its own scripts and styles only; inline style attributes are its
// loading spinner. No third-party origin (its web-font link is blocked on purpose: an operator's
// browser on a PHI service calls nobody else).
export const DASHBOARD_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

/** The BullMQ dashboard at /admin/queues, `ops` (or `admin`) keys only, job data hidden, read-only (board-guard.ts). */
export async function adminPlugin(
  app: FastifyInstance,
  opts: { queues: PatientQueue[]; authenticate: (req: FastifyRequest, reply: FastifyReply) => Promise<void> },
): Promise<void> {
  // allowCompletedRetries is read by the adapter (base.js) but missing from its option type.
  const options = { readOnlyMode: true, allowRetries: false, allowCompletedRetries: false };
  // One entry per partition.
  const adapters = opts.queues.map((queue) => {
    const adapter = new BullMQAdapter(queue, options);
    adapter.setFormatter('data', () => HIDDEN);
    adapter.setFormatter('returnValue', outcomeCounts);
    return adapter;
  });
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({ queues: adapters, serverAdapter, options: { uiConfig: { boardTitle: 'Patient ingestion' } } });
  app.addHook('onRequest', async (_request, reply) => void reply.header('content-security-policy', DASHBOARD_CSP).header('cache-control', 'no-store'));
  app.addHook('onRequest', opts.authenticate);
  app.addHook('onRequest', async (request) => requireScope(request, 'ops'));
  app.addHook('onRequest', boardGuard());
  await app.register(serverAdapter.registerPlugin() as never, { prefix: '/admin/queues' });
}

/** A batch job's result on the dashboard: how many records ended how (codes only, no patient id or value). */
export function outcomeCounts(value: unknown): Record<string, number> {
  const results = (value as { results?: unknown } | null)?.results;
  const counts: Record<string, number> = {};
  if (!Array.isArray(results)) return counts;
  for (const r of results) {
    const outcome = (r as { outcome?: unknown } | null)?.outcome;
    const key = typeof outcome === 'string' ? outcome : 'undecided';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
