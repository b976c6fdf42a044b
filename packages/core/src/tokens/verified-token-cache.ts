import { LRUCache } from 'lru-cache';
import type { TokenKind } from './claims.js';
import type { VerifiedToken } from './types.js';

/**
 * Signature-verified tokens by their exact text, kept until `exp` (ARCHITECTURE.md, *Request path*).
 * Only what cannot change for the same bytes is cached — issuer trust, the signature, the imported
 * `cnf.jwk`; the caller re-checks `exp`, the accepted `typ` and `aud` on every hit. Keyed by the
 * token itself (a string Map lookup is cheaper than hashing it on every request) and bounded both by
 * entry count and by the total length of the keys, so large tokens minted by an untrusted issuer
 * cannot grow memory past the bound.
 */

export interface VerifiedTokenCache {
  get(raw: string): VerifiedToken | undefined;
  set(raw: string, token: VerifiedToken): void;
  delete(raw: string): void;
  readonly size: number;
}

/** Total characters of cached token text (≈ 2 bytes each in memory at worst). */
const MAX_CACHED_TOKEN_CHARS = 8 * 1024 * 1024;

/** A bounded LRU of verified tokens; `undefined` when `maxEntries` is 0 (caching disabled). */
export function createVerifiedTokenCache(maxEntries: number): VerifiedTokenCache | undefined {
  if (!Number.isInteger(maxEntries) || maxEntries < 0)
    throw new TypeError('cacheSize must be a non-negative integer');
  if (maxEntries === 0) return undefined;
  const lru = new LRUCache<string, VerifiedToken<TokenKind>>({
    max: maxEntries,
    maxSize: MAX_CACHED_TOKEN_CHARS,
    sizeCalculation: (_token, raw) => raw.length,
  });
  return {
    get: (raw) => lru.get(raw),
    set: (raw, token) => {
      lru.set(raw, token);
    },
    delete: (raw) => {
      lru.delete(raw);
    },
    get size() {
      return lru.size;
    },
  };
}
