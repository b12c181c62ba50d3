// Reference (a) for scenario 1 and 2: the HTTP limit. The same Fastify setup as the API, routes that
// parse the JSON body and answer 202 with the same shape of answer, but neither validate nor enqueue.
// Run as a process: `node bench/reference/bare-202.ts` with API_PORT etc. (src/shared/config/config.ts).
import { serveReference } from './fastify-setup.ts';

await serveReference('bare202', async (app, config) => {
  let seq = 0;
  app.post('/api/patients', async (_request, reply) => {
    const jobId = String(++seq);
    const statusUrl = `/api/patients/jobs/${jobId}`;
    return reply.code(202).header('location', statusUrl).send({ jobId, status: 'queued', statusUrl });
  });
  // The batch limit for parsing big bodies: the API's batch route allows API_BATCH_MAX (1000) x 4 KiB.
  app.post('/api/patients/batch', { bodyLimit: Math.max(config.API_BODY_LIMIT_BYTES, 1000 * 4096) }, async (request, reply) => {
    const items = Array.isArray(request.body) ? request.body : [];
    const results = items.map((_item, index) => {
      const jobId = String(++seq);
      return { index, jobId, statusUrl: `/api/patients/jobs/${jobId}` };
    });
    return reply.code(202).send({ accepted: items.length, rejected: 0, results });
  });
  return async () => {};
});
