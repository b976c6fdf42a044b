import { DWK, Forbidden, InvalidRequest } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { BODY_SIGNATURE_COMPONENTS, REVOKE_PATH } from '../metadata.js';
import type { AppContext } from './context.js';

/**
 * `POST /revoke` (`revocation_endpoint`, §Token Revocation). Servers sign with `jwks_uri` (`id` = their
 * issuer, Signature-Key §3.6) under a PS or AS document, with the body covered. `200 {}` once revoked
 * (or already), `404` for an unknown `(iss, jti)`, `403` for a caller that may not revoke it.
 * A session-token grant is the pair (this resource's issuer, grant id); only its issuer — this
 * resource, signing under its own `aauth-resource` document — may revoke it there
 * (docs/spec-decisions.md, *Resource server: session-token revocation*).
 */
const REVOKE: RouteAAuthConfig = {
  schemes: ['jwks_uri'],
  // `resource`: this resource itself (its operators' tooling) revoking a session grant it issued.
  jwksUriDwks: [DWK.person, DWK.access, DWK.resource],
  additionalComponents: BODY_SIGNATURE_COMPONENTS,
  stateChanging: true,
};

/** Bounds for storage; real identifiers are far shorter. */
const MAX_JTI_LENGTH = 256;
const MAX_ISS_LENGTH = 2_048;

export function registerRevocationRoute(app: FastifyInstance, context: AppContext): void {
  app.post(REVOKE_PATH, { config: { aauth: REVOKE } }, async (request, reply) => {
    const body = request.body;
    const { iss, jti } =
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : ({} as Record<string, unknown>);
    if (typeof iss !== 'string' || iss === '' || typeof jti !== 'string' || jti === '') {
      throw new InvalidRequest('iss and jti are required strings.');
    }
    if (jti.length > MAX_JTI_LENGTH || iss.length > MAX_ISS_LENGTH) {
      throw new InvalidRequest('iss or jti is too long.');
    }
    const signer = request.aauth?.signer;
    if (signer?.scheme !== 'jwks_uri') throw new Forbidden('Revocation requires a jwks_uri signer.');
    if (iss === context.issuer) {
      // §Token Revocation: "only … from the issuer of the token being revoked or from a trusted PS";
      // no PS took part in a resource-managed session, so only this resource itself.
      if (signer.id !== context.issuer || signer.dwk !== DWK.resource) {
        throw new Forbidden('Only the issuer of a token or a trusted Person Server may revoke it.');
      }
      await context.sessionTokens.revokeGrant({ grantId: jti, revokedBy: signer.id });
      request.log.info({ event: 'session_token.revoked', by: 'issuer' }, 'session revoked');
      return reply.code(200).header('cache-control', 'no-store').send({});
    }
    if (signer.dwk === DWK.resource) {
      throw new Forbidden('Only the issuer of a token or a trusted Person Server may revoke it.');
    }
    await context.revocations.revoke({ signerId: signer.id, signerDwk: signer.dwk, iss, jti });
    request.log.info({ event: 'token.revoked', iss, by: signer.id }, 'token revoked');
    return reply.code(200).header('cache-control', 'no-store').send({});
  });
}
