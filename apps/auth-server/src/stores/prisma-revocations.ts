import type { RevocationChecker } from '@aauth-ref/fastify';
import type { PrismaClient } from './prisma.js';

/** Revocation state keyed by `(iss, jti)` (§Token Revocation), read by the verification hook. */
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
