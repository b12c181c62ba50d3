import { AppError } from '../shared/errors.ts';
import type { PatientQueue } from './enqueue.ts';

export class BackpressureError extends AppError {
  constructor() {
    super('QUEUE_FULL', 503, 'the queue is backed up; nothing was accepted, retry later');
  }
}

/**
 * Refuses new work while more than `maxWaiting` records wait. A job holds many records, so the
 * depth in records is the waiting jobs times the mean records per job this process enqueued (an
 * estimate that is exact for one-size jobs). The count is read from Redis at most every
 * `refreshMs` (one read shared by all requests), so the check costs nothing per request.
 */
export function createDepthGuard(queue: PatientQueue, maxWaiting: number, recordsPerJob: () => number = () => 1, refreshMs = 250) {
  let depth = 0;
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= queue
      .getWaitingCount()
      .then((n) => {
        depth = n;
        readAt = Date.now();
      })
      .catch(() => {}) // Redis down: the enqueue itself answers 503
      .finally(() => (reading = undefined)));
  return async function check(incoming = 1): Promise<void> {
    if (Date.now() - readAt > refreshMs) await refresh();
    if (depth * recordsPerJob() + incoming > maxWaiting) throw new BackpressureError();
  };
}
