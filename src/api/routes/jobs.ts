import type { JobState } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { decidedOf, idOf, parseRecordRef, recordsOf, type PatientJobResult, type RecordResult } from '../../shared/queue.ts';
import { requireScope } from '../auth.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// Where one submitted record stands: `[p<partition>-]<jobId>-<index>` names the queue job that carries it and its
// place in that job. Ids, states, counts and times only: never the patient's data.

const STATE: Partial<Record<JobState | 'unknown', string>> = {
  waiting: 'queued',
  'waiting-children': 'queued',
  prioritized: 'queued',
  delayed: 'queued', // waiting for a retry after a transient failure
  active: 'active',
  failed: 'failed',
};

/** A record's own state: its result decides once there is one (a job can finish some records early). */
function recordState(jobState: string, result: RecordResult | undefined): string {
  if (result?.outcome === 'rejected') return 'failed';
  if (result) return result.outcome === 'stale' ? 'skipped-as-stale' : 'stored';
  // Never "stored" without the record's own result (a job's state alone cannot say so).
  return jobState === 'completed' ? 'active' : (STATE[jobState as JobState] ?? jobState);
}

export async function jobRoutes(app: FastifyInstance, { queues }: RouteDeps): Promise<void> {
  app.get<{ Params: { jobId: string } }>('/api/patients/jobs/:jobId', async (request, reply) => {
    requireScope(request, 'patients:write', 'patients:read');
    const ref = parseRecordRef(request.params.jobId);
    // The reference names its partition: one read of that queue, no search.
    const queue = ref ? queues[ref.partition] : undefined;
    // The state first, then the job: a job read before its state may miss a result the state claims.
    const state = ref && queue ? await queue.getJobState(ref.jobId) : 'unknown';
    const job = ref && queue && state !== 'unknown' ? await queue.getJob(ref.jobId) : undefined;
    const record = job && ref ? recordsOf(job.data)[ref.index] : undefined;
    const submittedBy = typeof record === 'object' && record !== null ? (record as { submittedBy?: unknown }).submittedBy : undefined;
    // A key sees its own submissions; admins see all.
    if (!job || !ref || record === undefined || !(request.client.scopes.has('admin') || submittedBy === request.client.id)) {
      return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such job (unknown, or removed after its retention period)' });
    }
    // Finished jobs carry every record's result; a job retried after a partial failure keeps the
    // results already decided in its progress.
    const result = (job.returnvalue as PatientJobResult | null)?.results?.[ref.index] ?? decidedOf(job.progress)[ref.index] ?? undefined;
    const patient = (record as { patient?: { id?: unknown } }).patient;
    return {
      jobId: request.params.jobId,
      state: recordState(state, result),
      outcome: result && result.outcome !== 'rejected' ? result.outcome : null,
      patientId: idOf(patient?.id),
      attempts: job.attemptsMade,
      receivedAt: new Date(job.timestamp).toISOString(),
      processedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      error: result?.outcome === 'rejected' ? `${result.code ?? 'REJECTED'}: ${result.message ?? 'the worker rejected the record'}` : state === 'failed' && job.failedReason ? job.failedReason : null,
    };
  });
}
