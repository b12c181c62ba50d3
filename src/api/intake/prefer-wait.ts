import type { Job, QueueEvents } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PatientDocument } from '../../shared/mongo.ts';
import type { Patient } from '../../shared/patient/patient-fields.ts';
import { parseRecordRef, type PatientJobData, type PatientJobResult, type RecordResult } from '../../shared/queue.ts';
import { readEntry } from '../access-log.ts';
import type { Client } from '../auth.ts';
import { lookupPatient } from '../patient-lookup.ts';
import { toPatientResponse } from '../patient-response.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';
import { errorSummary, withDeadline } from '../../shared/errors.ts';
import { statusUrl } from './enqueue.ts';

// `Prefer: wait=N` (RFC 7240) for clients written against the old synchronous endpoint.

/** Seconds asked for in a Prefer header, capped; undefined when the client did not ask to wait. */
export function preferredWait(header: string | string[] | undefined, maxSeconds: number): number | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const match = value ? /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(value) : null;
  return match ? Math.min(Number(match[1]), maxSeconds) : undefined;
}

export type WaitResult =
  | { kind: 'done'; result: RecordResult }
  | { kind: 'failed'; reason: string }
  | { kind: 'pending' };

/** Waits for the job holding the record, then answers that record's own result. */
export async function waitForRecord(job: Job<PatientJobData, PatientJobResult>, index: number, events: QueueEvents, seconds: number): Promise<WaitResult> {
  if (seconds <= 0) return { kind: 'pending' };
  try {
    const finished = (await job.waitUntilFinished(events, seconds * 1000)) as PatientJobResult | undefined;
    const result = finished?.results?.[index];
    if (!result) return { kind: 'pending' };
    return result.outcome === 'rejected' ? { kind: 'failed', reason: `${result.code ?? 'REJECTED'}: ${result.message ?? 'the worker rejected the record'}` } : { kind: 'done', result };
  } catch (err) {
    // Either the wait timed out or the job failed for good (the error carries its failedReason,
    // which is our own text); the job's state says which.
    return (await job.getState()) === 'failed' ? { kind: 'failed', reason: (err as Error).message } : { kind: 'pending' };
  }
}

type Waiting = { jobId: string; patient: Patient; seconds: number; earned: () => FastifyReply | Promise<FastifyReply> };

/** What the stored record's read-back may take beyond the seconds asked for, before the 202 goes out instead. */
export const READ_BACK_MS = 1000;

type ReadBack =
  | { kind: 'pending' }
  | { kind: 'failed'; reason: string }
  | { kind: 'stored'; result: RecordResult; doc: PatientDocument }
  | { kind: 'decided'; result: RecordResult };

/** Writing does not grant reading: a stale write would otherwise get the newer stored record back (issue 22). */
const mayRead = (client: Client) => client.scopes.has('admin') || client.scopes.has('patients:read');

async function readBack(request: FastifyRequest, { queues, queueEvents, store }: RouteDeps, w: Waiting): Promise<ReadBack> {
  const ref = parseRecordRef(w.jobId)!;
  const job = await queues[ref.partition]!.getJob(ref.jobId);
  const waited = job ? await waitForRecord(job, ref.index, queueEvents![ref.partition]!, w.seconds) : { kind: 'pending' as const };
  if (waited.kind !== 'done') return waited;
  if (!mayRead(request.client)) return { kind: 'decided', result: waited.result };
  // The stored record goes back only to a key that may read it (a stale write finds a newer one).
  const found = await lookupPatient(store.patients, request.client, w.patient.id, w.patient.center_id);
  return found.outcome === 'returned' ? { kind: 'stored', result: waited.result, doc: found.doc } : { kind: 'pending' };
}

/**
 * After the 202 is earned: the record's own outcome within the seconds asked for (201/200 with the
 * stored record for a key that may read it, else with the outcome alone; 422 if the worker refused
 * it), else the 202 itself. Nothing here can undo the 202,
 * and nothing holds it longer than the wait plus READ_BACK_MS (a slow Redis or database included).
 */
export async function answerAfterWait(request: FastifyRequest, reply: FastifyReply, deps: RouteDeps, w: Waiting): Promise<FastifyReply> {
  if (!deps.queueEvents) return w.earned();
  reply.header('preference-applied', `wait=${w.seconds}`);
  const deadline = Date.now() + w.seconds * 1000 + READ_BACK_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ kind: 'pending' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'pending' }), deadline - Date.now())));
  try {
    const got = await Promise.race([readBack(request, deps, w), late]);
    if (got.kind === 'pending') return await w.earned();
    if (got.kind === 'failed') {
      return await sendProblem(reply, { type: '/docs#problem-rejected-by-worker', title: 'Unprocessable Content', status: 422, detail: got.reason, jobId: w.jobId });
    }
    const code = got.result.outcome === 'inserted' ? 201 : 200;
    if (got.kind === 'decided') {
      // What the write did, and nothing of what is stored: no record was read, so none is audited.
      const { outcome } = got.result;
      reply.header('x-ingest-outcome', outcome).header('location', statusUrl(w.jobId));
      return await reply.code(code).send({ jobId: w.jobId, state: outcome === 'stale' ? 'skipped-as-stale' : 'stored', outcome, statusUrl: statusUrl(w.jobId) });
    }
    // No record goes out without its access-audit entry; an entry that lands after the bound (the
    // 202 went out instead) over-reports a read, never hides one.
    const entry = readEntry(request, 'patient.read-after-write', w.patient.id, 'returned');
    const auditTimeout = () => Object.assign(new Error('audit timeout'), { code: 'AUDIT_TIMEOUT' });
    const audited = await withDeadline(deps.accessAudit.record(entry).then(() => true), deadline, auditTimeout).catch((err: unknown) => {
      request.log.warn({ err: errorSummary(err) }, 'read-after-write not audited in time; answering 202');
      return false;
    });
    if (!audited) return await w.earned();
    reply.header('x-ingest-outcome', got.result.outcome).header('location', `/api/patients/${w.patient.id}`);
    return await reply.code(code).send(toPatientResponse(got.doc, deps.config.PATIENT_TIME_ZONE));
  } catch (err) {
    request.log.warn({ err: errorSummary(err) }, 'waiting for the worker failed; answering 202');
    return w.earned();
  } finally {
    clearTimeout(timer);
  }
}
