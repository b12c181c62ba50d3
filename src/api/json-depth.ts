// A bound on JSON nesting, checked on the text before JSON.parse builds it. JSON.parse itself has no
// depth limit: a 4 MB batch body of 2,000,000 nested `[` built 2,000,000 arrays and took the API
// past its heap limit (a security review's finding). No patient and no batch nests deeper than 3.
import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors.ts';

export const MAX_JSON_DEPTH = 32;

/** Whether `[`/`{` outside strings nest deeper than `max`; stops at the first level past it. */
export function nestedTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // a backslash: the next character is escaped
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

/** `application/json` and `text/json` (the old endpoint took both): nesting bounded, then Fastify's own parser. */
export function boundedJsonParsers(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  const bounded: typeof json = (request, body, done) =>
    nestedTooDeep(body as string) ? done(new AppError('BODY_TOO_DEEP', 400, `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined) : json(request, body, done);
  app.removeContentTypeParser('application/json');
  for (const type of ['application/json', 'text/json']) app.addContentTypeParser(type, { parseAs: 'string' }, bounded);
}
