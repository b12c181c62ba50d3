import { WaitingError, type Job } from 'bullmq';

// The jobs this worker is running, so that a shutdown past its deadline can hand them back to
// the queue at once (active -> wait) instead of leaving them "active" until their lock expires.

type Ticket = { job: Job; token: string | undefined; abort: AbortController; handedBack: (err: Error) => void };

export type InFlight = {
  /**
   * Runs `work` for a job. If the job is handed back meanwhile, the answer is a WaitingError
   * (BullMQ then leaves the job alone) and `work`'s signal is aborted: it must not fail the job.
   */
  run: <T>(job: Job, token: string | undefined, work: (signal: AbortSignal) => Promise<T>) => Promise<T>;
  /** Moves every running job back to "wait"; answers how many went back. */
  handBack: () => Promise<number>;
};

export function createInFlight(): InFlight {
  const tickets = new Map<string, Ticket>();
  return {
    async run(job, token, work) {
      const abort = new AbortController();
      const back = Promise.withResolvers<never>();
      const key = `${job.queueName}:${job.id}:${token}`;
      tickets.set(key, { job, token, abort, handedBack: back.reject });
      try {
        return await Promise.race([work(abort.signal), back.promise]);
      } finally {
        tickets.delete(key);
      }
    },
    async handBack() {
      const running = [...tickets.values()];
      const moved = await Promise.all(
        running.map(async ({ job, token, abort, handedBack }) => {
          abort.abort();
          // If Redis cannot take it now, the job stays active and its lock expires: it is then
          // re-delivered by the stalled-job check of any worker. Not lost either way.
          const ok = await job.moveToWait(token).then(() => true, () => false);
          handedBack(new WaitingError());
          return ok;
        }),
      );
      return moved.filter(Boolean).length;
    },
  };
}
