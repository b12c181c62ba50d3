import type { FastifyInstance } from 'fastify';
import type { JobState } from 'bullmq';
import type { RouteDeps } from '../app.ts';
import { requireScope } from '../auth.ts';
import { sendProblem } from '../problem.ts';

// Where a submission stands. Ids, states, counts and times only: never the patient's data.

const STATE: Partial<Record<JobState | 'unknown', string>> = {
  waiting: 'queued',
  'waiting-children': 'queued',
  prioritized: 'queued',
  delayed: 'queued', // waiting for a retry after a transient failure
  active: 'active',
  failed: 'failed',
};

export async function jobRoutes(app: FastifyInstance, { queue }: RouteDeps): Promise<void> {
  app.get<{ Params: { jobId: string } }>('/api/patients/jobs/:jobId', async (request, reply) => {
    requireScope(request, 'patients:write', 'patients:read');
    const { jobId } = request.params;
    const job = /^[A-Za-z0-9:_-]{1,100}$/.test(jobId) ? await queue.getJob(jobId) : undefined;
    // A key sees its own submissions; admins see all.
    const visible = job && (request.client.scopes.has('admin') || job.data?.submittedBy === request.client.id);
    if (!job || !visible) {
      return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such job (unknown, or removed after its retention period)' });
    }
    const state = await job.getState();
    const outcome = job.returnvalue?.outcome;
    return {
      jobId: String(job.id),
      state: state === 'completed' ? (outcome === 'stale' ? 'skipped-as-stale' : 'stored') : (STATE[state] ?? state),
      outcome: outcome ?? null,
      patientId: job.returnvalue?.patientId ?? null,
      attempts: job.attemptsMade,
      receivedAt: new Date(job.timestamp).toISOString(),
      processedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      error: job.failedReason ? job.failedReason : null,
    };
  });
}
