import {
  type AuthTokenClaims,
  type Clock,
  completeTokenClaims,
  DWK,
  type IssuableClaims,
  issueToken,
  type TokenSigner,
} from '@aauth-ref/core';
import type { GrantContext, IssuedAuthTokenStore } from './ports.js';

/**
 * Issues the AS's auth tokens (§Auth Token Structure): `iss` this AS, `dwk` `aauth-access.json`, `aud`
 * the resource, `ps` and `sub` copied from the resource token, `cnf` the agent's key (the sub-agent's
 * for a parent-mediated request), the granted `scope`, and `account`, `mission_s256`, `tenant` when the
 * resource token carried them. `exp` ≤ min(`iat` + lifetime ≤ 1 h, agent token `exp`, sub-agent token
 * `exp`); the AS cannot see a mission's `expires_at` (the PS enforces it on delivery). Every token is
 * recorded before it is returned.
 */

export interface AuthTokenIssuerDeps {
  readonly issuer: string;
  readonly clock: Clock;
  /** The active signing key, read at each issue (rotation). */
  readonly signer: () => TokenSigner;
  readonly lifetimeSeconds: number;
  readonly store: IssuedAuthTokenStore;
}

/** The `200` body of §AS Response. */
export interface AuthTokenResponse {
  readonly auth_token: string;
  readonly expires_in: number;
}

export type AuthTokenIssuer = (
  context: GrantContext,
  scope: string | undefined,
) => Promise<AuthTokenResponse>;

export function createAuthTokenIssuer(deps: AuthTokenIssuerDeps): AuthTokenIssuer {
  return async (context, scope) => {
    const input: IssuableClaims<'auth'> = {
      iss: deps.issuer,
      dwk: DWK.access,
      aud: context.resource,
      ps: context.ps,
      sub: context.sub,
      cnf: { jwk: context.cnf_jwk },
      ...(scope === undefined ? {} : { scope }),
      ...(context.account === undefined ? {} : { account: context.account }),
      ...(context.mission_s256 === undefined ? {} : { mission_s256: context.mission_s256 }),
      ...(context.tenant === undefined ? {} : { tenant: context.tenant }),
    };
    const options = {
      clock: deps.clock,
      lifetimeSeconds: deps.lifetimeSeconds,
      notAfter: [context.not_after],
    };
    const claims: AuthTokenClaims = completeTokenClaims('auth', input, options);
    await deps.store.record({
      jti: claims.jti,
      aud: claims.aud,
      ps: claims.ps,
      sub: claims.sub,
      ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      ...(claims.account === undefined ? {} : { account: claims.account }),
      ...(claims.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
      ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
      agentIss: context.agent.iss,
      agentSub: context.agent.sub,
      ...(context.subagent_sub === undefined ? {} : { subagentSub: context.subagent_sub }),
      cnfJkt: context.cnf_jkt,
      resourceTokenJti: context.resource_token_jti,
      issuedAt: new Date(claims.iat * 1000),
      exp: new Date(claims.exp * 1000),
    });
    const auth_token = issueToken('auth', claims, deps.signer(), options);
    return { auth_token, expires_in: claims.exp - claims.iat };
  };
}
