import type { Queryable } from './types.js';

/**
 * The replay cache of the AAuth profile (§Freshness and Replay) kept in the server's own database, so
 * a replay sent to another instance is caught too. Every server's schema has the same table:
 *
 * ```prisma
 * model ReplayEntry {
 *   key       String   @id
 *   expiresAt DateTime @map("expires_at") @db.Timestamptz(3)
 *   @@index([expiresAt])
 *   @@map("replay_entry")
 * }
 * ```
 *
 * One statement decides: the insert succeeds, or an existing row is taken over only when it has
 * expired — a live row makes the statement return nothing, and the request is a replay.
 */
export interface DatabaseReplayCache {
  /** Records `key` until `expiresAt` (ms since the epoch); `false` when it is already recorded and live. */
  consume(key: string, expiresAt: number): Promise<boolean>;
}

/** Expired rows are removed at most this often, by whichever instance records a signature then. */
const PURGE_INTERVAL_MS = 60_000;

export function createDatabaseReplayCache(db: Queryable, clock: { now(): number }): DatabaseReplayCache {
  let lastPurge = 0;
  return {
    async consume(key, expiresAt) {
      const now = new Date(clock.now());
      if (now.getTime() - lastPurge >= PURGE_INTERVAL_MS) {
        lastPurge = now.getTime();
        await db.exec('DELETE FROM replay_entry WHERE expires_at <= $1', [now]);
      }
      const rows = await db.exec(
        `INSERT INTO replay_entry (key, expires_at) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
         WHERE replay_entry.expires_at <= $3
         RETURNING key`,
        [key, new Date(expiresAt), now],
      );
      return rows.length === 1;
    },
  };
}
