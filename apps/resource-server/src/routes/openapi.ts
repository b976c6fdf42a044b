import type { FastifyInstance } from 'fastify';
import { OPENAPI_PATH } from '../metadata.js';
import { buildOpenApiDocument } from '../services/r3-catalog.js';
import type { AppContext } from './context.js';

/**
 * `GET /openapi.json` — the OpenAPI description of the notes API, the discovery endpoint of
 * `urn:aauth:vocabulary:openapi` (R3 §OpenAPI Vocabulary). Public like the metadata: it is what an
 * agent reads to plan (R3 §Operation Access Annotations), never an authorization.
 */
export function registerOpenApiRoute(app: FastifyInstance, context: AppContext): void {
  const body = JSON.stringify(buildOpenApiDocument(context.issuer));
  app.get(OPENAPI_PATH, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').type('application/json; charset=utf-8').send(body),
  );
}
