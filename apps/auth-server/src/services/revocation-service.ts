import { type Clock, Forbidden, InvalidRequest, NotFound } from '@aauth-ref/core';

/**
 * The AS's revocation endpoint (§Token Revocation) for the auth tokens it issued. "MUST only accept
 * revocation from the issuer of the token being revoked or from a trusted PS": the AS is the issuer,
 * so the one caller it accepts is the PS the token was issued through (its `ps`), signing as itself.
 * Notifying the resource's own revocation endpoint is a later slice (README, *Auth server*).
 */

export interface IssuedTokenRef {
  readonly jti: string;
  readonly ps: string;
  readonly exp: Date;
}

export interface RevocationStore {
  findIssuedAuthToken(jti: string): Promise<IssuedTokenRef | undefined>;
  /** Marks the token revoked and records `(iss, jti)`; idempotent. */
  revokeIssuedAuthToken(iss: string, token: IssuedTokenRef, at: Date, reason: string): Promise<void>;
}

export interface RevocationService {
  /** `POST /revoke` from the PS `caller`; resolves when revoked (or already revoked). */
  revoke(caller: string, body: unknown): Promise<void>;
}

const MAX_MEMBER_LENGTH = 1024;

function requiredString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_MEMBER_LENGTH) {
    throw new InvalidRequest(`${name} is required (a string).`);
  }
  return value;
}

export function createRevocationService(deps: {
  readonly issuer: string;
  readonly clock: Clock;
  readonly store: RevocationStore;
}): RevocationService {
  return {
    async revoke(caller, body) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidRequest('The request body must be a JSON object.');
      }
      const b = body as Record<string, unknown>;
      const iss = requiredString(b, 'iss');
      const jti = requiredString(b, 'jti');
      // "404 if the (iss, jti) pair is not recognized": this AS knows only the tokens it issued.
      const token = iss === deps.issuer ? await deps.store.findIssuedAuthToken(jti) : undefined;
      if (!token) throw new NotFound('No token with this (iss, jti) was issued here.');
      if (token.ps !== caller)
        throw new Forbidden('Only the Person Server the token was issued through may revoke it.');
      await deps.store.revokeIssuedAuthToken(iss, token, new Date(deps.clock.now()), 'ps_request');
    },
  };
}
