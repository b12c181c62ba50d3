import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.ts';
import { sendProblem, toProblem } from './problem.ts';

// The dashboard only looks. Its actions would bypass what the service promises: cleaning, emptying,
// obliterating, editing, promoting or adding jobs could drop or alter acknowledged records, and a
// retry was not audited and could not bring back a record refused at its last attempt (a job that
// failed for good keeps no patient data in Redis: its records are in the dead letters). Records are
// brought back by replaying their dead letters (`npm run dead-letters -- replay`, or POST
// /api/admin/dead-letters/{id}/replay), which is audited. bull-board runs in its read-only mode,
// which shows no action; this guard makes that a rule for requests sent without the page.

export function boardGuard() {
  return async function guard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    // Answered here, as problem+json: bull-board's own error handler would reshape a thrown error.
    const refused = new AppError('BOARD_READ_ONLY', 403, 'the dashboard is read-only; replay failed records from the dead letters (audited)');
    return void sendProblem(reply, toProblem(refused));
  };
}
