import { InvalidJwt, InvalidPersonToken } from '@aauth-ref/core';
import type { FastifyRequest } from 'fastify';

/**
 * Checks the `aud` of the token in `Signature-Key` against this server, per kind, once the route
 * knows it will act on that token (ARCHITECTURE.md *Request path*): an auth token for another
 * resource fails trust like any Signature-Key token (`401 invalid_jwt`, §Auth Token Verification);
 * a person token for another resource is `400 invalid_person_token` (§Person Token Verification).
 * Agent tokens carry no `aud`. Does nothing for an unsigned request.
 */
export function assertAudience(
  request: FastifyRequest,
  audience: string = request.server.aauthServer.issuer,
): void {
  const context = request.aauth;
  if (!context?.token) return;
  const { token } = context;
  if (token.kind === 'auth' && token.claims.aud !== audience) {
    throw new InvalidJwt('The auth token was issued for another resource.');
  }
  if (token.kind === 'person' && token.claims.aud !== audience) {
    throw new InvalidPersonToken('The person token was issued for another resource.');
  }
}
