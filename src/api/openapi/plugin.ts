import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config/config.ts';
import { openApiDocument } from './document.ts';

/** `/docs` (interactive page, assets served locally) and `/docs/json` (the OpenAPI 3.1 document). */
export async function docsPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(swagger, { mode: 'static', specification: { document: openApiDocument(config) as never } });
  // staticCSP: a Content-Security-Policy on the page and its assets (scripts: self plus hashes of its
  // inline ones). Changed from the plugin's default: no third-party validator badge, styles and fonts
  // from this origin only, inline styles allowed (swagger-ui sets some from script; a style cannot
  // run code), and no upgrade-insecure-requests, which would break the page over plain HTTP (the
  // Quick start, a port-forward).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) =>
      header
        .replace(' validator.swagger.io', '')
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';")
        .replace(/font-src [^;]*;/, "font-src 'self' data:;")
        .replace(/\s*upgrade-insecure-requests;?/, ''),
    uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null },
  });
}
