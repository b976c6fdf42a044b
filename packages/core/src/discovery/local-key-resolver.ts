import type { VerificationKey } from '../jwk.js';
import { DiscoveryError, type IssuerKeyResolver } from './types.js';

/**
 * A server's own keys, and those of roles collocated on its origin (the PS and its Agent Provider share
 * an issuer but publish different `dwk` documents and key sets): tokens it issued verify without an
 * HTTP call to itself.
 */

export interface LocalIssuer {
  readonly issuer: string;
  readonly dwk: string;
  /** Public keys with a `kid` (on the key, as a `KeyPair` has, or in its JWK). */
  readonly keys: ReadonlyArray<VerificationKey & { readonly kid?: string }>;
  /** The document this role publishes under `dwk`; its `issuer` must equal `issuer`. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface LocalKeyResolver extends IssuerKeyResolver {
  /** Whether `(iss, dwk)` is served locally. */
  has(iss: string, dwk: string): boolean;
}

interface LocalRole {
  readonly keys: ReadonlyMap<string, VerificationKey>;
  readonly metadata: Readonly<Record<string, unknown>>;
}

function roleKey(iss: string, dwk: string): string {
  return `${iss}\n${dwk}`;
}

/** Throws `TypeError` on a key without `kid`, a duplicate role, or metadata naming another issuer. */
export function createLocalKeyResolver(issuers: readonly LocalIssuer[]): LocalKeyResolver {
  const roles = new Map<string, LocalRole>();
  for (const { issuer, dwk, keys, metadata } of issuers) {
    if (metadata.issuer !== issuer) throw new TypeError(`local metadata for ${issuer} names another issuer`);
    const id = roleKey(issuer, dwk);
    if (roles.has(id)) throw new TypeError(`local issuer ${issuer} ${dwk} is listed twice`);
    const byKid = new Map<string, VerificationKey>();
    for (const key of keys) {
      const kid = key.kid ?? key.jwk.kid;
      if (kid === undefined) throw new TypeError(`a local key of ${issuer} has no kid`);
      byKid.set(kid, key);
    }
    roles.set(id, { keys: byKid, metadata: Object.freeze({ ...metadata }) });
  }

  function role(iss: string, dwk: string): LocalRole {
    const found = roles.get(roleKey(iss, dwk));
    if (!found) throw new DiscoveryError('unknown_key', 'issuer is not served locally');
    return found;
  }

  return {
    has: (iss, dwk) => roles.has(roleKey(iss, dwk)),
    async resolveKey(iss, dwk, kid) {
      const key = role(iss, dwk).keys.get(kid);
      if (!key) throw new DiscoveryError('unknown_key', 'no key with this kid');
      return key;
    },
    async metadata(iss, dwk) {
      return role(iss, dwk).metadata;
    },
  };
}
