import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.ts';
import type { PatientQueue } from '../shared/queue.ts';

// bull-board has one switch for all of its actions (readOnlyMode), and retries need it off. So the
// dashboard runs with it off, and this guard lets through reads and retries of FAILED jobs only:
// cleaning, emptying, obliterating, editing, promoting or adding jobs could drop or alter
// acknowledged records. The controls for them are hidden (BOARD_STYLE); this makes it a rule.

const RETRY_FAILED_ALL = /^\/admin\/queues\/api\/queues\/[^/]+\/retry\/failed$/;
const RETRY_ONE = /^\/admin\/queues\/api\/queues\/([^/]+)\/([^/]+)\/retry$/;

export function boardGuard(queues: PatientQueue[]) {
  return async function guard(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    // `ops` keys look; only `admin` keys may retry.
    if (!request.client.scopes.has('admin')) throw new AppError('FORBIDDEN_SCOPE', 403, 'retrying jobs needs the admin scope');
    const path = request.url.split('?')[0]!;
    if (request.method === 'PUT' && RETRY_FAILED_ALL.test(path)) return;
    const one = request.method === 'PUT' ? RETRY_ONE.exec(path) : null;
    const queue = one ? queues.find((q) => q.name === decodeURIComponent(one[1]!)) : undefined;
    if (one && queue && (await queue.getJobState(decodeURIComponent(one[2]!))) === 'failed') return;
    throw new AppError('BOARD_RETRY_ONLY', 403, 'the dashboard only retries failed jobs; nothing else may change the queue here');
  };
}

// The retry icon's path in the pinned @bull-board/ui; class names end in a build hash, hence the
// prefix matches. test/browser/ui.test.ts proves the retry control shows and the others do not.
const RETRY_ICON = 'path[d^="M21 3v5h-5"]';
const BOARD_STYLE =
  `<style>[class*="jobActions-"]>li:not(:has(${RETRY_ICON})),[class*="queueActions-"]>li:not(:has(${RETRY_ICON})),` +
  '[class*="trailing-"] button[aria-haspopup="menu"]{display:none!important}</style>';

/** onSend: the dashboard page gets the style that hides every control but retry. */
export async function hideBoardControls(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const type = reply.getHeader('content-type');
  if (typeof payload !== 'string' || typeof type !== 'string' || !type.startsWith('text/html')) return payload;
  return payload.replace('</head>', `${BOARD_STYLE}</head>`);
}
