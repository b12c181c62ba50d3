import { z } from 'zod';
import { positiveRange } from './wire-patterns.ts';
import { MAX_LETTER_ID } from '../dead-letter-routes.ts';

// The admin operations of /docs/json: dead letters for ops (src/api/dead-letter-routes.ts).

type Json = Record<string, unknown>;

export function deadLetterSchemas() {
  const DeadLetter = z.object({
    id: z.string().meta({ description: 'the letter id: `<queue>:<jobId>-<index>`' }),
    queue: z.string(),
    jobId: z.string().meta({ description: 'the record reference that failed' }),
    centerId: z.int().nullable().meta({ description: "the record's own center (null: none, or a letter older than the (center_id, id) keys)" }),
    patientId: z.int().nullable(),
    errorCode: z.string(),
    errorMessage: z.string().meta({ description: 'the rule or failure, with field paths; never a value' }),
    attempts: z.int(),
    failedAt: z.string(),
    replayedAt: z.string().nullable(),
    replayJobId: z.string().nullable(),
  });
  const DeadLetterPage = z.object({ total: z.int(), offset: z.int(), limit: z.int(), items: z.array(DeadLetter) });
  const Replayed = z.object({ id: z.string(), replayJobId: z.string(), statusUrl: z.string() });
  return { DeadLetter, DeadLetterPage, Replayed };
}

export function adminPaths(pageMax: number, offsetMax: number, json: (name: string) => Json, problem: (description: string) => Json): Json {
  const forbidden = problem('The API key lacks the admin scope');
  return {
    '/api/admin/dead-letters': {
      get: {
        operationId: 'listDeadLetters',
        summary: 'Records refused for good, oldest first (admin scope): ids, codes, field paths, times; never values',
        parameters: [
          { name: 'limit', in: 'query', required: false, schema: { type: 'string', maxLength: 9, pattern: `^0*${positiveRange(1, pageMax)}$`, default: '100' }, description: `page size, 1..${pageMax}` },
          { name: 'offset', in: 'query', required: false, schema: { type: 'string', maxLength: 9, pattern: `^(?:0*${positiveRange(1, offsetMax)}|0+)$`, default: '0' } },
          { name: 'replayed', in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'], default: 'false' }, description: 'true: replayed letters too' },
        ],
        responses: { '200': { description: 'One page of letters', ...json('DeadLetterPage') }, '400': problem('A paging parameter out of range'), '403': forbidden },
      },
    },
    '/api/admin/dead-letters/{id}/replay': {
      post: {
        operationId: 'replayDeadLetter',
        summary: 'Enqueue the letter\'s record again as a new job (admin scope); the letter remembers the new reference',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: MAX_LETTER_ID }, description: `the letter id, \`<queue>:<record reference>\` (at most ${MAX_LETTER_ID} characters; a longer one answers 400)` }],
        responses: {
          '202': { description: 'Queued again', headers: { Location: { schema: { type: 'string' }, description: 'the new record status URL' } }, ...json('Replayed') },
          '403': forbidden,
          '404': problem('No such dead letter'),
          '409': problem('Already replayed, or the letter belongs to another queue'),
          '400': problem(`The id is longer than ${MAX_LETTER_ID} characters (LETTER_ID_TOO_LONG)`),
          '503': problem('The queue did not confirm the job; retry later'),
        },
      },
    },
  };
}
