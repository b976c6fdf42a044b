import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { TokenKind } from './claims.js';
import type { VerifiedToken } from './types.js';

/**
 * Signature-verified tokens by SHA-256 of the raw JWT, kept until `exp` (ARCHITECTURE.md, *Request
 * path*). Only what cannot change for the same bytes is cached — issuer trust, the signature, the
 * imported `cnf.jwk`; the caller re-checks `exp`, the accepted `typ` and `aud` on every hit. Keyed by
 * a digest, not the token, so attacker-sized strings are not held in memory; bounded by entry count.
 */

export interface VerifiedTokenCache {
  get(raw: string): VerifiedToken | undefined;
  set(raw: string, token: VerifiedToken): void;
  delete(raw: string): void;
  readonly size: number;
}

function keyOf(raw: string): string {
  return createHash('sha256').update(raw).digest('base64url');
}

/** A bounded LRU of verified tokens; `undefined` when `maxEntries` is 0 (caching disabled). */
export function createVerifiedTokenCache(maxEntries: number): VerifiedTokenCache | undefined {
  if (!Number.isInteger(maxEntries) || maxEntries < 0)
    throw new TypeError('cacheSize must be a non-negative integer');
  if (maxEntries === 0) return undefined;
  const lru = new LRUCache<string, VerifiedToken<TokenKind>>({ max: maxEntries });
  return {
    get: (raw) => lru.get(keyOf(raw)),
    set: (raw, token) => {
      lru.set(keyOf(raw), token);
    },
    delete: (raw) => {
      lru.delete(keyOf(raw));
    },
    get size() {
      return lru.size;
    },
  };
}
