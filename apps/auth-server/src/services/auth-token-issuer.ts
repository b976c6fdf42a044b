import {
  type AuthTokenClaims,
  type Clock,
  completeTokenClaims,
  DWK,
  type IssuableClaims,
  issueToken,
  type TokenSigner,
} from '@aauth-ref/core';
import type { R3Grant } from './policy.js';
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
  r3?: R3Grant,
) => Promise<AuthTokenResponse>;

export function createAuthTokenIssuer(deps: AuthTokenIssuerDeps): AuthTokenIssuer {
  return async (context, scope, r3) => {
    // R3 §AS Processing step 6: r3_uri, r3_s256, r3_granted and (if any) r3_per_call. An R3 request
    // decided without an R3 grant (the resource has no `r3` rules) is issued on its scope alone.
    const r3Claims =
      context.r3 === undefined || r3 === undefined
        ? {}
        : {
            r3_uri: context.r3.r3_uri,
            r3_s256: context.r3.r3_s256,
            r3_granted: { vocabulary: context.r3.vocabulary, operations: [...r3.granted] },
            ...(r3.perCall.length === 0
              ? {}
              : { r3_per_call: { vocabulary: context.r3.vocabulary, operations: [...r3.perCall] } }),
          };
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
      ...r3Claims,
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
      ...(context.r3 === undefined || claims.r3_granted === undefined
        ? {}
        : {
            r3: {
              r3Uri: context.r3.r3_uri,
              r3S256: context.r3.r3_s256,
              agentJkt: context.agent_jkt ?? context.cnf_jkt,
              r3Granted: claims.r3_granted,
              r3PerCall: claims.r3_per_call ?? null,
              proposal: context.r3.proposal,
            },
          }),
    });
    const auth_token = issueToken('auth', claims, deps.signer(), options);
    return { auth_token, expires_in: claims.exp - claims.iat };
  };
}
