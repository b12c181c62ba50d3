import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config.ts';
import { openApiDocument } from './document.ts';

/** `/docs` (interactive page, assets served locally) and `/docs/json` (the OpenAPI 3.1 document). */
export async function docsPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(swagger, { mode: 'static', specification: { document: openApiDocument(config) as never } });
  // staticCSP: a Content-Security-Policy on the page and its assets (self, plus hashes of its inline
  // scripts). Without its third-party validator badge, and without upgrade-insecure-requests, which
  // would break the page where it is served over plain HTTP (the Quick start, a port-forward).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(' validator.swagger.io', '').replace(/\s*upgrade-insecure-requests;?/, ''),
    uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null },
  });
}
