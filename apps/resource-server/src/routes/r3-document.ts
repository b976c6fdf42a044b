import { DWK, Forbidden, isR3S256, NotFound } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { R3_DOCUMENT_PATH } from '../services/r3-service.js';
import type { AppContext } from './context.js';

/**
 * `GET /r3/:s256` — R3 documents and per-call proposals (R3 §R3 Document, §Content Addressing),
 * served as the exact bytes that were hashed, to the parties entitled only (§R3 Document Access
 * Restriction): the request must be signed with `jwks_uri` by the AS named in the `aud`, or the PS
 * named in the `ps`, of a resource token carrying this `r3_uri`. Unsigned or signed with any other
 * scheme (an agent's `jwt`) fails in the signature hook (`401` with `Signature-Error`); a server
 * signing that is not entitled is refused with `403 forbidden` (docs/spec-decisions.md).
 */
const R3_DOCUMENT: RouteAAuthConfig = {
  schemes: ['jwks_uri'],
  jwksUriDwks: [DWK.person, DWK.access],
};

export function registerR3DocumentRoute(app: FastifyInstance, context: AppContext): void {
  app.get<{ Params: { s256: string } }>(
    `${R3_DOCUMENT_PATH}/:s256`,
    { config: { aauth: R3_DOCUMENT } },
    async (request, reply) => {
      const signer = request.aauth?.signer;
      if (signer?.scheme !== 'jwks_uri')
        throw new Forbidden('R3 documents are served to jwks_uri signers only.');
      const { s256 } = request.params;
      if (!isR3S256(s256)) throw new NotFound('No R3 document with this hash.');
      const bytes = await context.r3.readDocument(s256, signer.id);
      request.log.info({ event: 'r3.document_served', r3_s256: s256, to: signer.id }, 'R3 document served');
      // The stored bytes verbatim: no serializer touches them (§Content Addressing).
      return reply
        .code(200)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .type('application/json')
        .send(Buffer.from(bytes));
    },
  );
}
