import type { Clock } from '../clock.js';
import type { IssuerKeyResolver } from '../discovery/types.js';
import type { IdentifierPolicy } from '../identifiers.js';
import type { KeyPair, VerificationKey } from '../jwk.js';
import type { ClaimsByKind, JktJwtClaims, JwtHeader, TokenKind } from './claims.js';

/** Contracts of token issuance and verification. Implementations live in `issue.ts` / `verify.ts`. */

export interface VerifiedToken<K extends TokenKind = TokenKind> {
  readonly kind: K;
  readonly raw: string;
  readonly header: JwtHeader;
  readonly claims: ClaimsByKind[K];
  /** The imported `cnf.jwk` (agent, person and auth tokens); absent for resource tokens. */
  readonly cnfKey: K extends 'resource' ? undefined : VerificationKey;
}

export interface VerifyTokenOptions<K extends TokenKind> {
  /** The token kinds acceptable here; the `typ` decides which one it is. */
  readonly kinds: readonly K[];
  /**
   * When set, `aud` must equal it (§Person Token Verification step 5, §Resource Token Verification
   * step 4, §Auth Token Verification step 5). Leave unset when the caller maps an `aud` mismatch to
   * its own error channel.
   */
  readonly audience?: string;
}

export interface TokenVerifierDeps {
  readonly clock: Clock;
  readonly keys: IssuerKeyResolver;
  readonly identifierPolicy: IdentifierPolicy;
  /** Allowed clock skew for `iat` in the future, seconds (default 60). */
  readonly skewSeconds?: number;
  /** Bound of the verified-token LRU (default 10 000 entries). 0 disables it. */
  readonly cacheSize?: number;
}

export interface TokenVerifier {
  /** Verifies in the spec's order, cheap checks first. Throws `TokenVerificationError`. */
  verify<K extends TokenKind>(jwt: string, options: VerifyTokenOptions<K>): Promise<VerifiedToken<K>>;
}

export interface IssueTokenOptions {
  readonly clock: Clock;
  /** Lifetime in seconds; capped by the type's maximum. */
  readonly lifetimeSeconds?: number;
  /** Upper bounds on `exp` (agent token `exp`, mission `expires_at`, …): the smallest wins. */
  readonly notAfter?: readonly (number | undefined)[];
}

/** `Omit` that keeps the named claims: the built-in one collapses a type with an index signature to it. */
type OmitClaims<T, K extends PropertyKey> = { [P in keyof T as P extends K ? never : P]: T[P] };

/** Claims the issuer supplies; `iat`, `exp`, `jti` and `dwk` are filled in when absent. */
export type IssuableClaims<K extends TokenKind> = OmitClaims<ClaimsByKind[K], 'iat' | 'exp' | 'jti' | 'dwk'> &
  Partial<Pick<ClaimsByKind[K], 'iat' | 'exp' | 'jti' | 'dwk'>>;

export type TokenSigner = Pick<KeyPair, 'alg' | 'kid' | 'privateKey'>;

export interface VerifiedJktJwt {
  readonly raw: string;
  readonly header: JwtHeader;
  readonly claims: JktJwtClaims;
  /** The durable (enclave) key from the JWT header `jwk`. */
  readonly durableKey: VerificationKey;
  /** The delegated ephemeral key from `cnf.jwk` — the one that signs the HTTP request. */
  readonly ephemeralKey: VerificationKey;
}
