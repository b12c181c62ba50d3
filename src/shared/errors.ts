// Typed errors with a stable string `code`. Their messages never carry patient values:
// they end up in logs, problem+json bodies and BullMQ failure reasons.
import type { FieldIssue } from './patient/patient-schema.ts';

export class AppError extends Error {
  readonly code: string;
  readonly statusCode: number;
  constructor(code: string, statusCode: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** The body breaks the patient contract: permanent, never retried. */
export class ValidationError extends AppError {
  readonly issues: FieldIssue[];
  constructor(issues: FieldIssue[]) {
    super('PATIENT_INVALID', 400, `patient record is invalid: ${issues.map((i) => i.path).join(', ')}`);
    this.issues = issues;
  }
}

/** The queue could not take the job in time: the client must retry, nothing was promised. */
export class QueueUnavailableError extends AppError {
  constructor() {
    super('QUEUE_UNAVAILABLE', 503, 'the queue did not confirm the record; retry later (with the same Idempotency-Key to be safe)');
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `withTimeout` up to `deadline` (epoch ms); one already spent still gives the promise its turn. */
export const withDeadline = <T>(promise: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> =>
  withTimeout(promise, Math.max(1, deadline - Date.now()), onTimeout);

/**
 * What a log line may say of a thrown error: its class and its code (`ECONNREFUSED`, our own
 * `QUEUE_UNAVAILABLE`, a driver's number), never its message, which a server or driver may build
 * from a command's arguments.
 */
export function errorSummary(err: unknown): { name: string; code?: string | number } {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null | undefined;
  // Redis replies (ReplyError) carry no code: their first word is one (NOAUTH, READONLY, OOM, MISCONF).
  const replyCode = e?.name === 'ReplyError' && typeof e.message === 'string' ? /^[A-Z][A-Z_]{1,30}(?=\s|$)/.exec(e.message)?.[0] : undefined;
  const code = e?.code ?? replyCode;
  return { name: typeof e?.name === 'string' ? e.name : typeof err, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
}
