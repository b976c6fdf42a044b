import type { RevocationChecker } from '@aauth-ref/fastify';
import type { RevocationStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/**
 * Revocation state keyed by `(iss, jti)` (§Token Revocation), read by the verification hook on every
 * signed request so a revoked token stops working at once, on every instance.
 */
export function createPrismaRevocationChecker(prisma: PrismaClient): RevocationChecker {
  return {
    async isRevoked(iss, jti) {
      const row = await prisma.revocation.findUnique({
        where: { iss_jti: { iss, jti } },
        select: { jti: true },
      });
      return row !== null;
    },
  };
}

export function createPrismaRevocationStore(prisma: PrismaClient): RevocationStore {
  return {
    async recordRevocation(entry) {
      await prisma.revocation.createMany({
        data: [
          {
            iss: entry.iss,
            jti: entry.jti,
            revokedAt: entry.at,
            revokedBy: entry.revokedBy,
            expiresAt: entry.expiresAt,
          },
        ],
        // Revoking twice keeps the first record (and its time): revocation is idempotent.
        skipDuplicates: true,
      });
    },
  };
}
