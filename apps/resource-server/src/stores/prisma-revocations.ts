import type { RevocationStore } from '../services/ports.js';
import type { RevocationFeed } from '../services/revocation-set.js';
import type { PrismaClient } from './prisma.js';

/**
 * Revocation state keyed by `(iss, jti)` (§Token Revocation). The verification hook reads it from
 * each instance's in-memory set (`services/revocation-set.ts`), which polls this table by
 * `recorded_at`.
 */
export function createPrismaRevocationFeed(prisma: PrismaClient): RevocationFeed {
  return {
    async listRecordedSince(since, unexpiredAfter) {
      return prisma.revocation.findMany({
        where: {
          ...(since === undefined ? {} : { recordedAt: { gte: since } }),
          OR: [{ expiresAt: null }, { expiresAt: { gt: unexpiredAfter } }],
        },
        select: { iss: true, jti: true, expiresAt: true, recordedAt: true },
      });
    },
  };
}

export function createPrismaRevocationStore(prisma: PrismaClient): RevocationStore {
  return {
    async recordRevocation(entry) {
      // `recorded_at` is left to the column default (`CURRENT_TIMESTAMP`): the database's clock, the
      // one every instance polls by — never this instance's. Revoking twice keeps the first record.
      await prisma.$executeRaw`
        INSERT INTO "revocation" ("iss", "jti", "revoked_at", "revoked_by", "expires_at")
        VALUES (${entry.iss}, ${entry.jti}, ${entry.at}, ${entry.revokedBy}, ${entry.expiresAt})
        ON CONFLICT ("iss", "jti") DO NOTHING`;
    },
  };
}
