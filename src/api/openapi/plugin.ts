import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config.ts';
import { openApiDocument } from './document.ts';

/** `/docs` (interactive page, assets served locally) and `/docs/json` (the OpenAPI 3.1 document). */
export async function docsPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(swagger, { mode: 'static', specification: { document: openApiDocument(config) as never } });
  // staticCSP: a Content-Security-Policy on the page and its assets (self only, hashes for its inline scripts).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { docExpansion: 'list', deepLinking: true } });
}
