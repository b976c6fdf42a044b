import {
  type AuthTokenClaims,
  decodeJwtUnverified,
  ExpiredResourceToken,
  InvalidResourceToken,
  jwkThumbprint,
  type ResourceTokenClaims,
  TOKEN_TYP,
  TokenVerificationError,
  type TokenVerifier,
} from '@aauth-ref/core';
import { InvalidAuthToken } from './errors.js';

/** What the agent knows when a resource challenges it (§Resource Challenge Verification). */
export interface ChallengeContext {
  /** The origin of the resource the request went to. */
  readonly resource: string;
  /** Thumbprint of the key that signed the request. */
  readonly agentJkt: string;
  /** The agent's own Person Server. */
  readonly ps: string;
  /** `sub` of the person (or auth) token presented to this resource, when one was. */
  readonly presentedSub?: string;
  /** Epoch seconds. */
  readonly now: number;
  /** Verifies the JWT signature; absent when signature checks are off. */
  readonly verifier?: TokenVerifier;
}

function stringClaim(payload: Record<string, unknown>, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * §Resource Challenge Verification, steps 2–6, before anything is sent to the PS: the claims first
 * (the cheap checks, which also keep a forged `iss` from causing a fetch), then the signature
 * against the resource's JWKS. Throws `InvalidResourceToken` (or `ExpiredResourceToken`) naming the
 * check that failed.
 */
export async function verifyResourceChallenge(
  resourceToken: string,
  context: ChallengeContext,
): Promise<ResourceTokenClaims> {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = decodeJwtUnverified(resourceToken));
  } catch (cause) {
    throw new InvalidResourceToken('The resource token is not a JWT.', { cause });
  }
  if (header.typ !== TOKEN_TYP.resource)
    throw new InvalidResourceToken('The resource token typ is not aa-resource+jwt.');
  // Step 3.
  if (stringClaim(payload, 'iss') !== context.resource) {
    throw new InvalidResourceToken('The resource token iss is not the resource the request was sent to.');
  }
  // Step 4.
  if (stringClaim(payload, 'agent_jkt') !== context.agentJkt) {
    throw new InvalidResourceToken("The resource token agent_jkt is not the thumbprint of the agent's key.");
  }
  // Step 5.
  if (stringClaim(payload, 'ps') !== context.ps) {
    throw new InvalidResourceToken("The resource token ps is not the agent's Person Server.");
  }
  const sub = stringClaim(payload, 'sub');
  if (sub === undefined || (context.presentedSub !== undefined && sub !== context.presentedSub)) {
    throw new InvalidResourceToken('The resource token sub is not the person the agent presented.');
  }
  // Step 6.
  const exp = payload.exp;
  if (typeof exp !== 'number' || exp <= context.now)
    throw new ExpiredResourceToken('The resource token has expired.');
  if (typeof stringClaim(payload, 'aud') !== 'string')
    throw new InvalidResourceToken('The resource token has no aud.');
  // Step 2 (signature): last, so only a token that names this very resource causes a JWKS fetch.
  if (context.verifier) {
    try {
      const verified = await context.verifier.verify(resourceToken, { kinds: ['resource'] });
      return verified.claims;
    } catch (cause) {
      if (cause instanceof TokenVerificationError && cause.reason === 'expired') {
        throw new ExpiredResourceToken('The resource token has expired.', { cause });
      }
      throw new InvalidResourceToken('The resource token signature did not verify.', { cause });
    }
  }
  return payload as unknown as ResourceTokenClaims;
}

/** What the auth token must match (§Auth Token Response Verification). */
export interface AuthTokenExpectation {
  readonly resourceToken: ResourceTokenClaims;
  readonly resource: string;
  readonly agentJkt: string;
  readonly verifier?: TokenVerifier;
}

/**
 * §Auth Token Response Verification: signature (RECOMMENDED; done when a verifier is given), `iss` =
 * the resource token's `aud`, `aud` = the resource, `cnf.jwk` = the agent's key, `sub` = the person
 * the resource token names. Throws `InvalidAuthToken`; the token is then neither cached nor used.
 */
export async function verifyAuthTokenResponse(
  authToken: string,
  expected: AuthTokenExpectation,
): Promise<AuthTokenClaims> {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = decodeJwtUnverified(authToken));
  } catch (cause) {
    throw new InvalidAuthToken('The auth token is not a JWT.', { cause });
  }
  if (header.typ !== TOKEN_TYP.auth) throw new InvalidAuthToken('The auth token typ is not aa-auth+jwt.');
  if (stringClaim(payload, 'iss') !== expected.resourceToken.aud) {
    throw new InvalidAuthToken("The auth token iss is not the resource token's aud.");
  }
  if (stringClaim(payload, 'aud') !== expected.resource) {
    throw new InvalidAuthToken('The auth token aud is not the resource the agent intends to access.');
  }
  const cnf = payload.cnf as { jwk?: unknown } | undefined;
  let cnfJkt: string | undefined;
  try {
    cnfJkt =
      cnf?.jwk === undefined ? undefined : jwkThumbprint(cnf.jwk as Parameters<typeof jwkThumbprint>[0]);
  } catch {
    cnfJkt = undefined;
  }
  if (cnfJkt !== expected.agentJkt)
    throw new InvalidAuthToken("The auth token cnf.jwk is not the agent's key.");
  if (stringClaim(payload, 'sub') !== expected.resourceToken.sub) {
    throw new InvalidAuthToken('The auth token sub is not the person of the person token presented.');
  }
  if (expected.verifier) {
    try {
      const verified = await expected.verifier.verify(authToken, {
        kinds: ['auth'],
        audience: expected.resource,
      });
      return verified.claims;
    } catch (cause) {
      throw new InvalidAuthToken('The auth token signature did not verify.', { cause });
    }
  }
  return payload as unknown as AuthTokenClaims;
}
