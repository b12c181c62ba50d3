import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import type { PatientSchema } from '../shared/patient/patient-schema.ts';
import { idOf, recordsOf, type PatientJobData, type PatientJobResult, type RecordResult } from '../shared/queue.ts';
import { recordDeadLetter, redactedJobData, type Failure, type LetterSource } from './dead-letters/dead-letters.ts';
import { classifyError, JobError } from './job-errors.ts';
import type { Decided, JobObserver } from './observer.ts';
import { processPatientJob, type JobOutcome, type ProcessorDeps } from './process-patient-job.ts';

// One batch job, one attempt: the processor decides what it can (a group commit of the valid
// records), poison records are dead-lettered on their own, and a transient error retries the job
// for the records still undecided only: what was decided is kept in the job's progress, so a retry
// neither rewrites it nor loses its true outcome or its audit entry.

export type PatientJob = Job<PatientJobData, PatientJobResult>;
type Progress = { decided?: (RecordResult | null)[]; unaudited?: number[]; tentative?: JobOutcome['tentative'] };

export type HandlerDeps = {
  queueName: string;
  /** The reference of a record as the API gave it out (names the partition when there are several). */
  refOf?: (jobId: string, index: number) => string;
  store: Store;
  schema: PatientSchema;
  write: ProcessorDeps['write'];
  logger: Logger;
  observer?: JobObserver;
  /** Delay for a job put back because its dead letter could not be kept (MongoDB down). */
  retryDelayMs: (job: PatientJob) => number;
};

export function createJobHandler(deps: HandlerDeps) {
  return async function handle(job: PatientJob, token: string | undefined, signal: AbortSignal): Promise<PatientJobResult> {
    const log = deps.logger.child({ jobId: job.id });
    const started = performance.now();
    const attempt = job.attemptsMade + 1;
    const final = attempt >= (job.opts.attempts ?? 1);
    const progress = (typeof job.progress === 'object' && job.progress !== null ? job.progress : {}) as Progress;
    let outcome: JobOutcome;
    try {
      outcome = await processPatientJob({ id: String(job.id), data: job.data, attemptsMade: job.attemptsMade, decided: progress.decided, tentative: progress.tentative }, deps);
    } catch (err) {
      outcome = { results: (progress.decided ?? []).map((r) => r ?? null), rejected: [], retry: classifyError(err), tentative: progress.tentative ?? [] };
    }
    if (signal.aborted) throw new JobError('HANDED_BACK', 'handed back at shutdown', false); // ignored by BullMQ
    const { results, retry, tentative } = outcome;
    const letters: { source: LetterSource; failure: Failure }[] = outcome.rejected.map((r) => ({
      source: { jobId: String(job.id), index: r.index, record: r.record, attempts: attempt },
      failure: r.error,
    }));
    if (retry && final) {
      // Out of attempts: each record still undecided is refused for good, with the error that stopped it.
      const records = recordsOf(job.data);
      records.forEach((record, index) => {
        if (results[index]) return;
        const patient = typeof record === 'object' && record !== null ? (record as { patient?: { id?: unknown } }).patient : undefined;
        results[index] = { outcome: 'rejected', patientId: idOf(patient?.id), code: retry.code, message: retry.message };
        letters.push({ source: { jobId: String(job.id), index, record, attempts: attempt }, failure: retry });
      });
    }
    const fresh: Decided[] = results.flatMap((result, index) =>
      result && (!progress.decided?.[index] || progress.unaudited?.includes(index)) ? [{ index, result }] : [],
    );
    deps.observer?.batch(fresh.length);
    try {
      await Promise.all(letters.map((l) => recordDeadLetter(deps.store, deps.queueName, l.source, l.failure, 'processor')));
    } catch (err) {
      // The letters must exist before anything is refused: put the job back, delayed, without
      // spending an attempt; decided records stay decided (and unaudited) in its progress.
      const delayMs = deps.retryDelayMs(job);
      const keep = results.map((r) => (r?.outcome === 'rejected' ? null : r));
      await job.updateProgress({ decided: keep, unaudited: fresh.filter((d) => keep[d.index]).map((d) => d.index), tentative } satisfies Progress).catch(() => {});
      log.error({ code: classifyError(err).code, delayMs }, 'dead letter not recorded: job delayed instead of failed');
      // If Redis cannot take that either, the job stays active until its lock expires and is re-delivered.
      await job.moveToDelayed(Date.now() + delayMs, token).catch(() => {});
      throw new DelayedError();
    }
    try {
      // Entries carried over from an attempt whose audit write may have landed are written as that
      // attempt wrote them (the same `_id`, audit.ts), apart from the ones decided since.
      const carried = fresh.filter((d) => progress.unaudited?.includes(d.index));
      const since = fresh.filter((d) => !progress.unaudited?.includes(d.index));
      for (const part of [carried, since]) if (part.length > 0) await deps.observer?.decided(job, part, deps.refOf);
    } catch (err) {
      // The audit entries are part of the job: not the records' failure (no attempt spent, nothing
      // dead-lettered), so the job is put back with what it decided, still to be audited.
      const delayMs = deps.retryDelayMs(job);
      await job.updateProgress({ decided: results, unaudited: fresh.map((d) => d.index), tentative } satisfies Progress).catch(() => {});
      log.error({ code: classifyError(err).code, records: fresh.length, delayMs }, 'audit entries not written: job delayed instead of finished');
      await job.moveToDelayed(Date.now() + delayMs, token).catch(() => {});
      throw new DelayedError();
    }
    const counts = tally(results);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    if (!retry) {
      log.info({ records: results.length, ...counts, attempt, ms }, 'job done');
      return { results: results as RecordResult[] };
    }
    const failure = retry;
    await job.updateProgress({ decided: results, unaudited: [], tentative } satisfies Progress).catch(() => {});
    deps.observer?.failed(failure, final);
    log[final ? 'error' : 'warn']({ code: failure.code, records: results.length, ...counts, attempt, final, ms }, `job failed: ${failure.message}`);
    const reason = `${failure.code}: ${failure.message}`;
    // Every record of a job failing for good has its letter (or its outcome) by now.
    if (final) await job.updateData(redactedJobData(job.data)).catch(() => {});
    throw final ? new UnrecoverableError(reason) : new Error(reason);
  };
}

function tally(results: (RecordResult | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r?.outcome ?? 'undecided'] = (counts[r?.outcome ?? 'undecided'] ?? 0) + 1;
  return counts;
}
