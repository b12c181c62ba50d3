import type { Queue } from 'bullmq';
import type { Logger } from '../../shared/logger.ts';
import type { Store } from '../../shared/mongo.ts';
import { recordRef, type PatientJobData } from '../../shared/queue.ts';
import { deadLetterId, failureFromReason, isRedacted, recordDeadLetter, redactedJobData, undecidedRecords } from './dead-letters.ts';
import { classifyError } from '../job-errors.ts';

/**
 * Jobs can fail for good without our processor seeing it: BullMQ fails a job that stalled more
 * than WORKER_MAX_STALLED_COUNT times inside Redis, and a failed event's dead-letter write can
 * meet a MongoDB outage. The sweep looks at the newest failed jobs still in Redis and records a
 * dead letter for each one that has none. Answers how many it added.
 */
export async function sweepFailedJobs(queue: Queue<PatientJobData>, store: Store, queueName: string, limit = 1000): Promise<number> {
  const jobs = (await queue.getFailed(0, limit - 1)).filter((job) => job?.id !== undefined);
  if (jobs.length === 0) return 0;
  const letters = jobs.flatMap((job) => undecidedRecords(job).map((source) => ({ job, source })));
  const ids = letters.map(({ source }) => deadLetterId(queueName, recordRef(source.jobId, source.index)));
  const found = await store.deadLetters.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray();
  const known = new Set(found.map((d) => d._id));
  let added = 0;
  for (const [i, { job, source }] of letters.entries()) {
    if (known.has(ids[i]!)) continue;
    await recordDeadLetter(store, queueName, source, failureFromReason(job.failedReason), 'sweep');
    added++;
  }
  // Each swept job's records all have letters now: its copy in Redis keeps no patient value.
  // Once per job: a later sweep finds it redacted and writes nothing.
  for (const job of new Set(letters.map((l) => l.job))) if (!isRedacted(job.data)) await job.updateData(redactedJobData(job.data)).catch(() => {});
  return added;
}

export type SweepOptions = { queue: Queue<PatientJobData>; store: Store; queueName: string; everyMs: number; logger: Logger };

/** Sweeps soon after start and then every `everyMs`; answers the function that stops it. */
export function startDeadLetterSweep({ queue, store, queueName, everyMs, logger }: SweepOptions): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const added = await sweepFailedJobs(queue, store, queueName);
      if (added > 0) logger.warn({ added }, 'dead letters added for jobs that failed outside the processor');
    } catch (err) {
      const failure = classifyError(err);
      logger.warn({ code: failure.code, reason: failure.message }, 'dead-letter sweep failed; will try again');
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void sweep(), Math.min(everyMs, 5000)).unref();
  const timer = setInterval(() => void sweep(), everyMs).unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
