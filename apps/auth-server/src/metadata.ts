import type { AccessServerMetadata } from '@aauth-ref/core';

/** `/.well-known/aauth-access.json` (§Access Server Metadata): only endpoints this server implements. */

export const JWKS_PATH = '/.well-known/jwks.json';
export const TOKEN_PATH = '/token';
export const REVOKE_PATH = '/revoke';
/** Pending URLs live under the token endpoint, as in the spec's examples (`/token/pending/xyz`). */
export const PENDING_PREFIX = '/token/pending';

export function buildAccessServerMetadata(issuer: string): AccessServerMetadata {
  return {
    issuer,
    name: 'AAuth Reference Access Server',
    description:
      '**AAuth Reference Access Server**: evaluates the policy of the resources it serves and issues their auth tokens to Person Servers.',
    auth_token_endpoint: `${issuer}${TOKEN_PATH}`,
    revocation_endpoint: `${issuer}${REVOKE_PATH}`,
    jwks_uri: `${issuer}${JWKS_PATH}`,
  };
}
