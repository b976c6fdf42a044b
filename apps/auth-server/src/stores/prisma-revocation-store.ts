import type { RevocationStore } from '../services/revocation-service.js';
import type { PrismaClient } from './prisma.js';

/** The revocation service's port: `issued_auth_token.revoked_at` and a `revocation` row, together. */
export function createPrismaRevocationStore(prisma: PrismaClient): RevocationStore {
  return {
    async findIssuedAuthToken(jti) {
      const row = await prisma.issuedAuthToken.findUnique({
        where: { jti },
        select: { jti: true, ps: true, aud: true, exp: true },
      });
      return row ?? undefined;
    },
    async revokeIssuedAuthToken(iss, token, at, reason) {
      await prisma.$transaction(async (tx) => {
        await tx.issuedAuthToken.updateMany({
          where: { jti: token.jti, revokedAt: null },
          data: { revokedAt: at },
        });
        await tx.revocation.createMany({
          data: [{ iss, jti: token.jti, revokedAt: at, reason, expiresAt: token.exp }],
          // Revoking twice keeps the first record: revocation is idempotent.
          skipDuplicates: true,
        });
      });
    },
  };
}
