import { LRUCache } from 'lru-cache';
import { DiscoveryError } from '../discovery/types.js';
import {
  InvalidKey,
  IssuerMismatch,
  IssuerMissing,
  type SignatureError,
  UnknownKey,
  UnsupportedAlgorithm,
} from '../errors.js';
import { isServerIdentifier } from '../identifiers.js';
import {
  importPublicJwk,
  KeyCheckError,
  keyCheckToSignatureError,
  SUPPORTED_ALGS,
  type VerificationKey,
} from '../jwk.js';
import type { Dwk } from '../tokens/claims.js';
import { verifyJktJwt } from '../tokens/jkt-jwt.js';
import { TokenVerificationError, tokenFailureToSignatureError } from '../tokens/token-error.js';
import type {
  RouteSignaturePolicy,
  SignatureKeyMember,
  Signer,
  VerifiableScheme,
  VerifierDeps,
} from './types.js';

/**
 * Key resolution per Signature-Key scheme (§Verification step 5, Signature-Key §3.4-§3.8): turns the
 * selected `Signature-Key` member into the key that must have signed the request, mapping every
 * failure to its `Signature-Error`.
 */

/** A `Signature-Key` member of a scheme this implementation verifies. */
export type VerifiableMember = Extract<SignatureKeyMember, { readonly scheme: VerifiableScheme }>;

export interface ResolvedSigningKey {
  readonly key: VerificationKey;
  readonly signer: Signer;
  /**
   * `jwks_uri` only: fetch the key again, bypassing the cache, after it failed to verify (§JWKS
   * Discovery and Caching, silent re-keying). The resolver enforces the once-per-minute floor.
   */
  readonly refresh?: () => Promise<VerificationKey>;
}

const DEFAULT_TOKEN_KINDS = ['agent', 'person', 'auth'] as const;

/** §Verification step 5/6 for a discovered key, keeping library messages out of `detail`. */
function discoveryFailureToSignatureError(err: DiscoveryError): SignatureError {
  const opts = { cause: err };
  switch (err.reason) {
    case 'issuer_missing':
      return new IssuerMissing('The signer metadata has no issuer member.', opts);
    case 'issuer_mismatch':
      return new IssuerMismatch('The signer metadata names a different issuer.', opts);
    case 'unknown_key':
      return new UnknownKey('No key with this kid at the signer JWKS.', opts);
    case 'unsupported_key':
      return new UnsupportedAlgorithm('The key type or algorithm is not supported.', {
        ...opts,
        acceptAlgs: SUPPORTED_ALGS,
      });
    case 'key':
      return new InvalidKey('The signer key could not be used.', opts);
    default:
      return new InvalidKey('The signer keys could not be obtained.', opts);
  }
}

function mapKeyFailure(err: unknown): never {
  if (err instanceof DiscoveryError) throw discoveryFailureToSignatureError(err);
  if (err instanceof TokenVerificationError) throw tokenFailureToSignatureError(err);
  if (err instanceof KeyCheckError) throw keyCheckToSignatureError(err);
  throw err;
}

async function resolveJwt(
  jwt: string,
  policy: RouteSignaturePolicy,
  deps: VerifierDeps,
): Promise<ResolvedSigningKey> {
  try {
    const token = await deps.tokens.verify(jwt, { kinds: policy.tokenKinds ?? DEFAULT_TOKEN_KINDS });
    return { key: token.cnfKey, signer: { scheme: 'jwt', token } };
  } catch (err) {
    return mapKeyFailure(err);
  }
}

async function resolveJwksUri(
  member: Extract<SignatureKeyMember, { readonly scheme: 'jwks_uri' }>,
  policy: RouteSignaturePolicy,
  deps: VerifierDeps,
): Promise<ResolvedSigningKey> {
  const { id, dwk, kid } = member;
  // Never fetch for an identifier the rules refuse (§Server Identifiers, IssuerKeyResolver contract).
  if (!isServerIdentifier(id, deps.identifierPolicy)) {
    throw new InvalidKey('The jwks_uri id is not a server identifier.');
  }
  if (!(policy.jwksUriDwks ?? []).includes(dwk as Dwk)) {
    throw new InvalidKey('The jwks_uri dwk is not accepted here.');
  }
  let key: VerificationKey;
  try {
    key = await deps.keys.resolveKey(id, dwk, kid);
  } catch (err) {
    return mapKeyFailure(err);
  }
  const refresh = async (): Promise<VerificationKey> => {
    try {
      return await deps.keys.resolveKey(id, dwk, kid, { refresh: true });
    } catch (err) {
      return mapKeyFailure(err);
    }
  };
  return { key, signer: { scheme: 'jwks_uri', id, dwk, kid }, refresh };
}

/**
 * Imported `hwk` keys, keyed by the member's parameters. Bounded: the key is attacker-chosen, and
 * only keys that passed Algorithm Determination are stored.
 */
const hwkKeys = new LRUCache<string, VerificationKey>({ max: 1000 });

function resolveHwk(jwk: Readonly<Record<string, string>>): ResolvedSigningKey {
  // Signature-Key §3.4: "The kid parameter MUST NOT be used."
  if (Object.hasOwn(jwk, 'kid')) throw new InvalidKey('An hwk key must not carry a kid parameter.');
  const cacheKey = JSON.stringify(jwk);
  let key = hwkKeys.get(cacheKey);
  if (key === undefined) {
    try {
      key = importPublicJwk(jwk);
    } catch (err) {
      return mapKeyFailure(err);
    }
    hwkKeys.set(cacheKey, key);
  }
  return { key, signer: { scheme: 'hwk', thumbprint: key.thumbprint, jwk: key.jwk } };
}

function resolveJktJwt(jwt: string, deps: VerifierDeps): ResolvedSigningKey {
  try {
    const verified = verifyJktJwt(jwt, { clock: deps.clock });
    return {
      key: verified.ephemeralKey,
      signer: {
        scheme: 'jkt-jwt',
        durableThumbprint: verified.durableKey.thumbprint,
        durableKey: verified.durableKey,
        newKey: verified.ephemeralKey,
        claims: verified.claims,
      },
    };
  } catch (err) {
    return mapKeyFailure(err);
  }
}

/** §Verification step 5: obtain the key from `Signature-Key` according to the scheme. */
export async function resolveSigningKey(
  member: VerifiableMember,
  policy: RouteSignaturePolicy,
  deps: VerifierDeps,
): Promise<ResolvedSigningKey> {
  switch (member.scheme) {
    case 'jwt':
      return resolveJwt(member.jwt, policy, deps);
    case 'jwks_uri':
      return resolveJwksUri(member, policy, deps);
    case 'hwk':
      return resolveHwk(member.jwk);
    case 'jkt-jwt':
      return resolveJktJwt(member.jwt, deps);
  }
}
