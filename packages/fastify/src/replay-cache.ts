import { createHash } from 'node:crypto';
import type { Clock } from '@aauth-ref/core';
import type { ReplayCache } from './types.js';

export interface ReplayKeyInput {
  readonly keyThumbprint: string;
  readonly created: number;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly signature: Uint8Array;
}

/**
 * The replay-cache key: the §Freshness and Replay tuple `(signing-key-thumbprint, created, @method,
 * @authority, @path)` plus the SHA-256 of the signature, so two distinct requests signed by the same
 * key in the same second both pass while a byte-identical replay does not. Hashed to a fixed length
 * because every part is attacker-chosen.
 */
export function computeReplayKey(input: ReplayKeyInput): string {
  const signatureHash = createHash('sha256').update(input.signature).digest('base64url');
  return createHash('sha256')
    .update(
      JSON.stringify([
        input.keyThumbprint,
        input.created,
        input.method,
        input.authority,
        input.path,
        signatureHash,
      ]),
    )
    .digest('base64url');
}

export interface MemoryReplayCacheOptions {
  readonly clock: Clock;
  /** Upper bound on remembered signatures; the oldest is forgotten first (default 100 000). */
  readonly maxEntries?: number;
}

/**
 * An in-process replay cache for tests and single-instance development. Production servers share a
 * database-backed one so a replay to another instance is caught too.
 */
export function createMemoryReplayCache(options: MemoryReplayCacheOptions): ReplayCache {
  const { clock } = options;
  const maxEntries = options.maxEntries ?? 100_000;
  const seen = new Map<string, number>();

  function sweep(now: number): void {
    for (const [key, expiresAt] of seen) {
      if (expiresAt <= now) seen.delete(key);
    }
  }

  return {
    async consume(key, expiresAt) {
      const now = clock.now();
      const existing = seen.get(key);
      if (existing !== undefined && existing > now) return false;
      if (seen.size >= maxEntries) {
        sweep(now);
        // Still full: forget the oldest insertion (Map keeps insertion order).
        if (seen.size >= maxEntries) {
          const oldest = seen.keys().next();
          if (!oldest.done) seen.delete(oldest.value);
        }
      }
      seen.set(key, expiresAt);
      return true;
    },
  };
}
