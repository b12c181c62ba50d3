import {
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from 'mongodb';

// Every failure is reduced to a code and a message we wrote ourselves: raw driver messages can quote
// document values (a duplicate-key message quotes the key), and these end up in BullMQ's failedReason.

export class JobError extends Error {
  readonly code: string;
  readonly permanent: boolean;
  constructor(code: string, message: string, permanent: boolean) {
    super(message);
    this.name = 'JobError';
    this.code = code;
    this.permanent = permanent;
  }
}

// Server errors that will fail the same way however often they are retried (13: Unauthorized).
const PERMANENT_SERVER_CODES = new Set([2, 9, 13, 14, 52, 55, 121, 10334, 17419]);
// Server answers that mean "no primary to write to right now": an outage, not a bad write.
const UNAVAILABLE_SERVER_CODES = new Set([6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436]);

// Write-concern errors no retry can mend: the set has fewer members than `w` (100), or no such tag (79).
const UNSATISFIABLE_WRITE_CONCERN = new Set([79, 100]);

/** A write-concern error of this code: retried (not durable yet), or refused for good when the set can never satisfy `w`. */
export const notDurable = (code?: number) =>
  code !== undefined && UNSATISFIABLE_WRITE_CONCERN.has(code)
    ? new JobError('DB_WRITE_CONCERN_INVALID', 'the replica set cannot satisfy MONGO_WRITE_CONCERN; fix it, then replay', true)
    : new JobError('DB_NOT_DURABLE', 'write not confirmed durable (write concern); will retry', false);
const unavailable = () => new JobError('DB_UNAVAILABLE', 'database unreachable', false);

/**
 * Driver 7.9 wraps whatever a bulk write met in a MongoBulkWriteError: a lost connection or a
 * server-selection timeout arrives with no code and the original error in `errorResponse`; a
 * write-concern failure arrives with empty `writeErrors`, its details only in `result`.
 */
export function classifyError(err: unknown): JobError {
  if (err instanceof JobError) return err;
  if (writeConcernFailed(err)) return notDurable(writeConcernCode(err));
  const inner = err instanceof MongoBulkWriteError && err.errorResponse instanceof Error ? err.errorResponse : err;
  if (
    inner instanceof MongoNetworkError ||
    inner instanceof MongoServerSelectionError ||
    inner instanceof MongoTopologyClosedError ||
    inner instanceof MongoOperationTimeoutError ||
    (inner instanceof MongoError && typeof inner.code !== 'number' && inner.hasErrorLabel('ResetPool'))
  ) {
    return unavailable();
  }
  const code = serverCode(err);
  if (code !== undefined) return byServerCode(code, err instanceof MongoServerError && typeof err.codeName === 'string' ? err.codeName : `code ${code}`);
  if (err instanceof MongoError) return new JobError('DB_ERROR', `database error (${err.name})`, false);
  return new JobError('WORKER_ERROR', `unexpected error (${err instanceof Error ? err.name : typeof err})`, false);
}

/** A server's refusal of one write: permanent for the codes above, an outage for those, else worth retrying. */
export function byServerCode(code: number, label: string): JobError {
  if (UNAVAILABLE_SERVER_CODES.has(code)) return unavailable();
  return PERMANENT_SERVER_CODES.has(code)
    ? new JobError('DB_REJECTED', `database rejected the write (${label})`, true)
    : new JobError('DB_ERROR', `database write failed (${label})`, false);
}

/** The write (or part of it) was applied on the primary, but its write concern was not confirmed. */
export function writeConcernFailed(err: unknown): boolean {
  if (err instanceof MongoWriteConcernError) return true;
  return err instanceof MongoBulkWriteError && typeof err.result?.getWriteConcernError === 'function' && err.result.getWriteConcernError() !== undefined;
}

/** The code of a write-concern error (64: timed out, 100: unsatisfiable, ...). */
export function writeConcernCode(err: unknown): number | undefined {
  const wce = err instanceof MongoWriteConcernError ? err : err instanceof MongoBulkWriteError && typeof err.result?.getWriteConcernError === 'function' ? err.result.getWriteConcernError() : undefined;
  return typeof wce?.code === 'number' ? wce.code : undefined;
}

function serverCode(err: unknown): number | undefined {
  if (err instanceof MongoBulkWriteError) {
    const first = typeof err.result?.getWriteErrors === 'function' ? err.result.getWriteErrors()[0] : undefined;
    if (first && typeof first.code === 'number') return first.code;
  }
  return err instanceof MongoError && typeof err.code === 'number' && Number.isFinite(err.code) ? err.code : undefined;
}
