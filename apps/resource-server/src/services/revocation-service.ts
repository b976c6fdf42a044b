import { type Clock, DWK, Forbidden, NotFound } from '@aauth-ref/core';
import type { RevocationStore, TokenRecordStore } from './ports.js';

/**
 * §Token Revocation at the resource: a signed `(iss, jti)` from a server that identified itself with
 * `jwks_uri`. Accepted only from the token's issuer, or from a trusted PS for an auth token that
 * names it in `ps` (the PS that provided a four-party token); `404` for a pair this resource never saw.
 */

export interface RevokeRequest {
  /** The verified `jwks_uri` signer: its issuer identifier and metadata document. */
  readonly signerId: string;
  readonly signerDwk: string;
  readonly iss: string;
  readonly jti: string;
}

export interface RevocationServiceDeps {
  readonly clock: Clock;
  readonly records: TokenRecordStore;
  readonly store: RevocationStore;
  readonly isTrustedPersonServer: (id: string) => Promise<boolean>;
}

export interface RevocationService {
  /** Throws `Forbidden` (not an allowed caller) or `NotFound` (unknown pair). */
  revoke(request: RevokeRequest): Promise<void>;
}

export function createRevocationService(deps: RevocationServiceDeps): RevocationService {
  return {
    async revoke({ signerId, signerDwk, iss, jti }) {
      const isIssuer = signerId === iss;
      const asPersonServer =
        !isIssuer && signerDwk === DWK.person && (await deps.isTrustedPersonServer(signerId));
      if (!isIssuer && !asPersonServer) {
        throw new Forbidden('Only the issuer of a token or a trusted Person Server may revoke it.');
      }
      const auth = await deps.records.findAuthToken(iss, jti);
      const person = auth ? undefined : await deps.records.findPersonToken(iss, jti);
      const exp = auth?.exp ?? person?.exp;
      if (exp === undefined) throw new NotFound('This resource holds no token with that iss and jti.');
      // A PS that is not the issuer may revoke only what was issued for its own person (`ps`).
      if (!isIssuer && auth?.ps !== signerId) {
        throw new Forbidden('Only the issuer of a token or a trusted Person Server may revoke it.');
      }
      await deps.store.recordRevocation({
        iss,
        jti,
        revokedBy: signerId,
        at: new Date(deps.clock.now()),
        expiresAt: new Date(exp * 1000),
      });
    },
  };
}
