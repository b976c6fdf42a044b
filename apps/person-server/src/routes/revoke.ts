import { DWK, Forbidden, InvalidRequest } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { RevocationService } from '../services/revocation-service.js';
import type { AppContext } from './context.js';

/**
 * `POST /revoke` (`revocation_endpoint`, §Token Revocation). Server callers identify themselves with
 * `jwks_uri` (Signature-Key §3.6; `id` is their issuer), the body covered by the signature
 * (§Covered Components). The service decides who may revoke what; revocation state is keyed by
 * `(iss, jti)` and consulted by the verification hook on every request.
 */
const REVOKE: RouteAAuthConfig = {
  schemes: ['jwks_uri'],
  jwksUriDwks: [DWK.agent, DWK.resource, DWK.access, DWK.person],
  requireBodyComponents: true,
  stateChanging: true,
};

/** Longest `jti` accepted: the identifiers this PS mints are far shorter; others are bounded for storage. */
const MAX_JTI_LENGTH = 256;

declare module 'fastify' {
  interface FastifyInstance {
    /** Revocation and its cascade; `settled()` waits for notices still being sent. */
    revocations: RevocationService;
  }
}

export function registerRevokeRoute(app: FastifyInstance, context: AppContext): void {
  app.decorate('revocations', context.revocations);
  // Graceful shutdown lets the notices already started finish (each is bounded by the egress timeout).
  app.addHook('onClose', async () => context.revocations.settled());

  app.post('/revoke', { config: { aauth: REVOKE } }, async (request, reply) => {
    const body = request.body;
    const { iss, jti } =
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : ({} as Record<string, unknown>);
    if (typeof iss !== 'string' || iss === '' || typeof jti !== 'string' || jti === '') {
      throw new InvalidRequest('iss and jti are required strings.');
    }
    if (jti.length > MAX_JTI_LENGTH || iss.length > 2048) {
      throw new InvalidRequest('iss or jti is too long.');
    }
    const signer = request.aauth?.signer;
    if (signer?.scheme !== 'jwks_uri') throw new Forbidden('Revocation requires a jwks_uri signer.');
    await context.revocations.revoke({ signerId: signer.id, iss, jti });
    return reply.code(200).header('cache-control', 'no-store').send({});
  });
}
