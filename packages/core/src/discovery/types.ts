import type { VerificationKey } from '../jwk.js';

/**
 * Contracts of discovery (§JWKS Discovery and Caching, Signature-Key §3.6): how verifiers obtain an
 * issuer's keys. Implementations: the HTTP one (egress-admitted fetch + caches) and the local one (a
 * server's own keys, so tokens it issued verify without an HTTP call); `createCompositeKeyResolver`
 * tries local first.
 */

export type DiscoveryFailureReason =
  | 'issuer_missing' // metadata without `issuer`
  | 'issuer_mismatch' // metadata `issuer` differs from the identifier it was fetched for
  | 'unknown_key' // no key with this kid (after the allowed refresh)
  | 'key' // the selected JWK is malformed or its kty/crv disagree with alg
  | 'unsupported_key' // the selected JWK has no alg, a polymorphic alg, or one we do not implement
  | 'metadata' // metadata is not a JSON object or lacks a usable jwks_uri
  | 'egress' // egress admission refused the URL (scheme, address class, cross-origin jwks_uri)
  | 'network'; // fetch failed: connect, status, size, time, JSON

export class DiscoveryError extends Error {
  readonly reason: DiscoveryFailureReason;
  constructor(reason: DiscoveryFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiscoveryError';
    this.reason = reason;
  }
}

export interface ResolveKeyOptions {
  /**
   * Set after a cached key failed to verify a signature: refetch the JWKS once (subject to the
   * once-per-minute floor) before answering.
   */
  readonly refresh?: boolean;
}

export interface IssuerKeyResolver {
  /**
   * The key `kid` of issuer `iss` as published through `{iss}/.well-known/{dwk}` → `jwks_uri`.
   * Throws `DiscoveryError`. Never fetches for an `iss` the caller has not already checked against
   * the identifier rules.
   */
  resolveKey(iss: string, dwk: string, kid: string, options?: ResolveKeyOptions): Promise<VerificationKey>;
  /** The metadata document of `iss` under `dwk`, `issuer` already checked. Throws `DiscoveryError`. */
  metadata(iss: string, dwk: string): Promise<Record<string, unknown>>;
}
