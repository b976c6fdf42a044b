import type { Clock } from '@aauth-ref/core';
import type { ReplayCache } from '@aauth-ref/fastify';
import type { PrismaClient } from './prisma.js';

/** Expired rows are removed at most this often, by whichever instance records a signature then. */
const PURGE_INTERVAL_MS = 60_000;

/**
 * The replay cache of §Freshness and Replay in the database (`replay_entry`), so a replay sent to
 * another instance is caught too. One statement decides: the insert succeeds, or the existing row
 * is taken over only when it has expired — a live row makes the statement touch nothing.
 */
export function createPrismaReplayCache(prisma: PrismaClient, clock: Clock): ReplayCache {
  let lastPurge = 0;
  return {
    async consume(key, expiresAt) {
      const now = clock.now();
      if (now - lastPurge >= PURGE_INTERVAL_MS) {
        lastPurge = now;
        await prisma.replayEntry.deleteMany({ where: { expiresAt: { lte: new Date(now) } } });
      }
      const changed = await prisma.$executeRaw`
        INSERT INTO replay_entry (key, expires_at) VALUES (${key}, ${new Date(expiresAt)})
        ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE replay_entry.expires_at <= ${new Date(now)}`;
      return changed === 1;
    },
  };
}
