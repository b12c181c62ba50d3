import type { Job, QueueEvents } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Patient } from '../../shared/patient/patient-fields.ts';
import { parseRecordRef, type PatientJobData, type PatientJobResult, type RecordResult } from '../../shared/queue.ts';
import { readEntry } from '../access-log.ts';
import { lookupPatient } from '../patient-lookup.ts';
import { toPatientResponse } from '../patient-response.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

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

/**
 * After the 202 is earned: the record's own outcome within the seconds asked for (201/200 with the
 * stored record, 422 if the worker refused it), else the 202 itself. Nothing here can undo the 202.
 */
export async function answerAfterWait(request: FastifyRequest, reply: FastifyReply, deps: RouteDeps, w: Waiting): Promise<FastifyReply> {
  const { queues, queueEvents, store, accessAudit, config } = deps;
  if (!queueEvents) return w.earned();
  try {
    reply.header('preference-applied', `wait=${w.seconds}`);
    const ref = parseRecordRef(w.jobId)!;
    const job = await queues[ref.partition]!.getJob(ref.jobId);
    const waited = job ? await waitForRecord(job, ref.index, queueEvents[ref.partition]!, w.seconds) : { kind: 'pending' as const };
    if (waited.kind === 'pending') return await w.earned();
    if (waited.kind === 'failed') {
      return await sendProblem(reply, { type: '/docs#problem-rejected-by-worker', title: 'Unprocessable Content', status: 422, detail: waited.reason, jobId: w.jobId });
    }
    // The stored record goes back only to a key that may read it (a stale write finds a newer one).
    const found = await lookupPatient(store.patients, request.client, w.patient.id, w.patient.center_id);
    if (found.outcome !== 'returned') return await w.earned();
    await accessAudit.record(readEntry(request, 'patient.read-after-write', w.patient.id, 'returned'));
    reply.header('x-ingest-outcome', waited.result.outcome).header('location', `/api/patients/${w.patient.id}`);
    return await reply.code(waited.result.outcome === 'inserted' ? 201 : 200).send(toPatientResponse(found.doc, config.PATIENT_TIME_ZONE));
  } catch (err) {
    request.log.warn({ err: { name: (err as Error).name } }, 'waiting for the worker failed; answering 202');
    return w.earned();
  }
}
