import type { Logger } from '../shared/logger.ts';
import type { Store } from '../shared/mongo.ts';
import { classifyError } from './job-errors.ts';

// The worker's start and stop, apart from its wiring (create-worker.ts).

const RETRY_STEP_MS = 250;
const RETRY_MAX_MS = 5000;

/**
 * Connects to MongoDB, retrying until it answers or the worker closes. The driver connects on first
 * use, but if that first connect fails the client stays closed for good (MongoTopologyClosedError on
 * every later operation); once connected, the driver rides out outages by itself.
 */
export async function connectMongo(store: Store, logger: Logger, stopped: () => boolean): Promise<boolean> {
  const connected = await retrying(async () => (await store.client.connect(), true), logger, stopped, 'MongoDB not reachable; not taking jobs yet');
  return connected === true && !stopped();
}

/** Runs a start-up step until it succeeds (the server may drop out right after connecting) or the worker closes. */
export function prepare<T>(step: () => Promise<T>, logger: Logger, stopped: () => boolean): Promise<T | undefined> {
  return retrying(step, logger, stopped, 'start-up step failed; retrying');
}

async function retrying<T>(step: () => Promise<T>, logger: Logger, stopped: () => boolean, message: string): Promise<T | undefined> {
  for (let attempt = 1; !stopped(); attempt++) {
    try {
      return await step();
    } catch (err) {
      logger.warn({ code: classifyError(err).code, attempt }, message);
      await sleep(Math.min(RETRY_STEP_MS * attempt, RETRY_MAX_MS));
    }
  }
  return undefined;
}

// The shutdown fits in SHUTDOWN_TIMEOUT_MS: jobs get all of it but a reserve (a quarter, at most 1 s)
// to finish; the reserve is then spent in phases, each ending when this share of the reserve is left.
const RESERVE_MAX_MS = 1000;
const RESERVE_SHARE = 0.25;
const PHASE_ENDS = {
  /** Jobs handed back to "wait" release their locks (BullMQ's close returns). */
  handedBack: 0.7,
  /** The queues used for dead-letter sweeps close. */
  queues: 0.55,
  /** The caller's own closing (e.g. the MongoDB client, whose goodbye may hang); the rest is for the process to exit. */
  after: 0.4,
} as const;

export type StopSteps = {
  timeoutMs: number;
  logger: Logger;
  /** Resolves when every worker has finished its jobs and closed. */
  closeWorkers: () => Promise<unknown>;
  /** Hands the jobs still running back to the queue; answers how many. */
  handBack: () => Promise<number>;
  closeQueues: () => Promise<unknown>;
  after?: (() => Promise<unknown>) | undefined;
};

/** Stops within `timeoutMs`: jobs finish or are handed back, then the queues and the caller's resources close. */
export async function stopInPhases(s: StopSteps): Promise<void> {
  const deadline = Date.now() + s.timeoutMs;
  const reserve = Math.min(RESERVE_MAX_MS, Math.floor(s.timeoutMs * RESERVE_SHARE));
  const until = (share: number) => sleep(deadline - reserve * share - Date.now());
  const graceful = s.closeWorkers().then(() => 'closed' as const);
  if ((await Promise.race([graceful, until(1)])) !== 'closed') {
    const handedBack = await s.handBack();
    s.logger.warn({ timeoutMs: s.timeoutMs, handedBack }, 'shutdown deadline: in-flight jobs handed back to the queue');
    await Promise.race([graceful, until(PHASE_ENDS.handedBack)]);
  }
  await Promise.race([s.closeQueues().catch(() => {}), until(PHASE_ENDS.queues)]);
  if (s.after) await Promise.race([s.after().catch(() => {}), until(PHASE_ENDS.after)]);
}

const sleep = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(resolve, Math.max(0, ms), 'timeout').unref());
