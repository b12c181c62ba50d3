import type { FastifyInstance } from 'fastify';
import { decidedOf, parseRecordRef, recordsOf, type PatientQueue, type RecordResult } from '../../shared/queue.ts';
import { requireScope } from '../auth.ts';
import type { Receipt } from '../intake/receipts.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// How a whole submission went (issue 24): counts per state and outcome, and the index and error code
// of each record that did not land, from job-level state (each job's state, results and progress;
// never its records). A batch has a receipt (intake/receipts.ts); a single POST's record reference
// is its own. Ids, counts and codes only: never a patient value.

const COUNTED = ['queued', 'active', 'inserted', 'updated', 'unchanged', 'stale', 'rejected', 'failed'] as const;
type Counted = (typeof COUNTED)[number];
type JobView = { state: string; results: (RecordResult | null | undefined)[]; failedCode: string };

const QUEUED = new Set(['waiting', 'waiting-children', 'prioritized', 'delayed']);
const parseJson = (text: string | null | undefined): unknown => { try { return text ? JSON.parse(text) : undefined; } catch { return undefined; } };

/** One job's state, results (final, or decided so far) and failure code: one script and one HMGET. */
async function viewOf(queue: PatientQueue, jobId: string): Promise<JobView | undefined> {
  const state = await queue.getJobState(jobId);
  if (state === 'unknown') return undefined;
  const client = await queue.client;
  const [returnvalue, progress, failedReason] = await client.hmget(queue.toKey(jobId), 'returnvalue', 'progress', 'failedReason');
  const final = (parseJson(returnvalue) as { results?: RecordResult[] } | undefined)?.results;
  return { state, results: final ?? decidedOf(parseJson(progress)), failedCode: /^[A-Z][A-Z0-9_]+/.exec(failedReason ?? '')?.[0] ?? 'JOB_FAILED' };
}

function recordCount(job: JobView, index: number): { counted: Counted; code?: string } {
  const result = job.results[index];
  if (result) return result.outcome === 'rejected' ? { counted: 'rejected', code: result.code ?? 'REJECTED' } : { counted: result.outcome };
  if (job.state === 'failed') return { counted: 'failed', code: job.failedCode };
  return { counted: QUEUED.has(job.state) ? 'queued' : 'active' };
}

export async function submissionRoutes(app: FastifyInstance, { queues, receipts }: RouteDeps): Promise<void> {
  const notFound = { type: '/docs#problem-submission_not_found', title: 'Not Found', status: 404, code: 'SUBMISSION_NOT_FOUND', detail: 'no such submission of this key (unknown, or removed after its retention period with its jobs)' };

  /** A single POST's receipt: its record reference. The key is the one in the record (as the status route reads it). */
  async function singleReceipt(id: string): Promise<Receipt | undefined> {
    const ref = parseRecordRef(id);
    const queue = ref ? queues[ref.partition] : undefined;
    const job = ref && queue ? await queue.getJob(ref.jobId) : undefined;
    const record = job && ref ? (recordsOf(job.data)[ref.index] as { submittedBy?: string } | undefined) : undefined;
    if (!ref || !record) return undefined;
    return { by: record.submittedBy ?? '', total: 1, slices: [{ p: ref.partition, job: ref.jobId, from: ref.index, n: 1 }], refused: [] };
  }

  app.get<{ Params: { id: string } }>('/api/submissions/:id', async (request, reply) => {
    requireScope(request, 'patients:write', 'patients:read');
    const { id } = request.params;
    const receipt = id.startsWith('s-') ? await receipts.load(id) : await singleReceipt(id);
    if (!receipt || !(request.client.scopes.has('admin') || receipt.by === request.client.id)) return sendProblem(reply, notFound);
    const views = new Map<string, JobView | undefined>();
    for (const s of receipt.slices) {
      const k = `${s.p}/${s.job}`;
      if (!views.has(k)) views.set(k, queues[s.p] ? await viewOf(queues[s.p]!, s.job) : undefined);
    }
    // A job removed by its retention takes the submission with it: no half answer.
    if ([...views.values()].some((v) => v === undefined)) return sendProblem(reply, notFound);
    const counts = Object.fromEntries(COUNTED.map((c) => [c, 0])) as Record<Counted, number>;
    const notLanded: { index: number; code: string }[] = receipt.refused.map(([index, code]) => ({ index, code }));
    counts.rejected += receipt.refused.length;
    let k = 0;
    for (const s of receipt.slices) {
      const job = views.get(`${s.p}/${s.job}`)!;
      for (let i = 0; i < s.n; i++, k++) {
        const { counted, code } = recordCount(job, s.from + i);
        counts[counted]++;
        if (code) notLanded.push({ index: receipt.at?.[k] ?? k, code });
      }
    }
    notLanded.sort((a, b) => a.index - b.index);
    const complete = counts.queued + counts.active === 0;
    if (!complete && id.startsWith('s-')) await receipts.extend(id);
    reply.header('cache-control', 'no-store');
    return { submission: id, total: receipt.total, complete, counts, notLanded };
  });
}
