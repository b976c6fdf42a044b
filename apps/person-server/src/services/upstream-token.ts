import {
  type AuthTokenClaims,
  DWK,
  decodeJwtUnverified,
  InvalidRequest,
  TokenVerificationError,
  type TokenVerifier,
  type VerifiedToken,
} from '@aauth-ref/core';
import type { DirectedSubjectStore, IssuedAuthTokenRecord, IssuedAuthTokenStore } from './ports.js';
import type { RequestingAgent } from './resource-token-check.js';

/**
 * §Upstream Token Verification at this PS. Step 2 ("a PS or AS whose auth token the recipient
 * previously brokered or is authorized to extend") admits two issuers, both decided by the PS's own
 * issued-auth-token records, which name the person:
 * - this PS: an auth token it issued (three-party upstream);
 * - an AS whose auth token this PS brokered (four-party upstream, §Access Server Federation): the PS
 *   recorded it when §Auth Token Delivery passed. Its `sub` is the directed `sub` this PS minted for
 *   the upstream resource (person token → resource token → AS), so it must still map to the same
 *   person there (§Person Token Endpoint: "determined from the upstream token's `sub`, which this PS
 *   MUST have issued").
 * The table has no code for an upstream token, so every failure is `invalid_request`
 * (docs/spec-decisions.md).
 */

export interface UpstreamTokenDeps {
  /** This PS's issuer identifier. */
  readonly issuer: string;
  /** Resolves this PS's keys locally and an AS's through discovery (`aauth-access.json`). */
  readonly verifier: TokenVerifier;
  readonly issuedAuthTokens: IssuedAuthTokenStore;
  readonly directedSubjects: Pick<DirectedSubjectStore, 'find'>;
}

export interface VerifiedUpstreamToken {
  readonly claims: AuthTokenClaims;
  /** The person the upstream authorization was issued for. */
  readonly personId: string;
}

const UNTRUSTED_ISSUER =
  'The upstream_token was neither issued by this person server nor brokered by it from an access server.';

function decodeUpstream(jwt: string): Record<string, unknown> {
  try {
    return decodeJwtUnverified(jwt).payload;
  } catch (cause) {
    throw new InvalidRequest('The upstream_token is not a JWT.', { cause });
  }
}

/** §Auth Token Verification steps 1–4 (JWT trust), through the PS's key resolver. */
async function verifyAuthToken(verifier: TokenVerifier, jwt: string): Promise<VerifiedToken<'auth'>> {
  try {
    return await verifier.verify(jwt, { kinds: ['auth'] });
  } catch (err) {
    if (!(err instanceof TokenVerificationError)) throw err;
    const detail =
      err.reason === 'expired'
        ? 'The upstream_token has expired.'
        : 'The upstream_token is not a valid auth token.';
    throw new InvalidRequest(detail, { cause: err });
  }
}

/**
 * The record is of this very token: same issuer, audience, subject and bound key, and not revoked.
 * Its `cnf` is the key of the agent it was issued to (§Four-Party: Call Chaining: the token the agent
 * presented upstream), never the intermediary's, so it is compared with the record, not the signer.
 */
function isRecordOf(
  record: IssuedAuthTokenRecord | undefined,
  token: VerifiedToken<'auth'>,
): record is IssuedAuthTokenRecord {
  const { claims } = token;
  return (
    record !== undefined &&
    record.revokedAt === null &&
    record.iss === claims.iss &&
    record.aud === claims.aud &&
    record.sub === claims.sub &&
    record.cnfJkt === token.cnfKey.thumbprint
  );
}

export async function verifyUpstreamToken(
  deps: UpstreamTokenDeps,
  jwt: string,
  signer: RequestingAgent,
): Promise<VerifiedUpstreamToken> {
  const unverified = decodeUpstream(jwt);
  const brokered = unverified.iss !== deps.issuer;
  let record: IssuedAuthTokenRecord | undefined;
  // Step 2 first, on the unverified token, so an issuer this PS never dealt with costs no discovery:
  // an AS's token is trusted only when issued through this PS (`ps`), published under the AS's
  // metadata (`dwk`), and recorded here on delivery.
  if (brokered) {
    if (
      unverified.ps !== deps.issuer ||
      unverified.dwk !== DWK.access ||
      typeof unverified.jti !== 'string'
    ) {
      throw new InvalidRequest(UNTRUSTED_ISSUER);
    }
    record = await deps.issuedAuthTokens.findByJti(unverified.jti);
    if (record === undefined || record.iss !== unverified.iss) throw new InvalidRequest(UNTRUSTED_ISSUER);
  }
  // Step 1.
  const token = await verifyAuthToken(deps.verifier, jwt);
  const { claims } = token;
  // Step 3.
  if (claims.aud !== signer.claims.iss) {
    throw new InvalidRequest('The upstream_token was not issued to the signing agent.');
  }
  record ??= await deps.issuedAuthTokens.findByJti(claims.jti);
  if (!isRecordOf(record, token)) {
    throw new InvalidRequest('The upstream_token is not an authorization this person server holds.');
  }
  if (brokered && (await deps.directedSubjects.find(record.personId, claims.aud)) !== claims.sub) {
    throw new InvalidRequest("The upstream_token's sub is not this person server's subject at its aud.");
  }
  return { claims, personId: record.personId };
}
