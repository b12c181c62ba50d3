import { MongoBulkWriteError, MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';

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

// Server errors that will fail the same way however often they are retried.
const PERMANENT_SERVER_CODES = new Set([2, 9, 14, 52, 55, 121, 10334, 17419]);

export function classifyError(err: unknown): JobError {
  if (err instanceof JobError) return err;
  const connectionLost = err instanceof MongoBulkWriteError && typeof err.code !== 'number' && err.hasErrorLabel('ResetPool');
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError || connectionLost) {
    return new JobError('DB_UNAVAILABLE', 'database unreachable', false);
  }
  if (err instanceof MongoServerError || (err instanceof MongoError && typeof err.code === 'number')) {
    const code = Number(err.code);
    return byServerCode(code, err instanceof MongoServerError && err.codeName ? err.codeName : `code ${code}`);
  }
  if (err instanceof MongoError) return new JobError('DB_ERROR', `database error (${err.name})`, false);
  return new JobError('WORKER_ERROR', `unexpected error (${err instanceof Error ? err.name : typeof err})`, false);
}

/** A server's refusal of one write: permanent for the codes above, else worth retrying. */
export function byServerCode(code: number, label: string): JobError {
  return PERMANENT_SERVER_CODES.has(code)
    ? new JobError('DB_REJECTED', `database rejected the write (${label})`, true)
    : new JobError('DB_ERROR', `database write failed (${label})`, false);
}
