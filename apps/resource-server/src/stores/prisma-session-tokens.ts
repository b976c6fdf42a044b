import type { GrantRow, SessionTokenStore } from '../services/session-tokens.js';
import type { PrismaClient } from './prisma.js';

/** `session_token` rows, keyed by the token's SHA-256 (the plaintext is never stored). */
export function createPrismaSessionTokenStore(prisma: PrismaClient): SessionTokenStore {
  return {
    async find(tokenHash) {
      const row = await prisma.sessionToken.findUnique({ where: { tokenHash } });
      return row ?? undefined;
    },
    async roll(previousHash, at, next) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.sessionToken.updateMany({
          where: { tokenHash: previousHash, supersededAt: null },
          data: { supersededAt: at },
        });
        if (count !== 1) return false;
        await tx.sessionToken.create({ data: { ...next } });
        return true;
      });
    },
    async listGrants(userId, after) {
      const rows = await prisma.sessionToken.findMany({
        where: { userId, expiresAt: { gt: after } },
        orderBy: { issuedAt: 'desc' },
      });
      const grants = new Map<string, GrantRow>();
      for (const row of rows) {
        const seen = grants.get(row.grantId);
        // Rows come newest first: the first is the grant's current token, the last its first.
        grants.set(
          row.grantId,
          seen ? { ...seen, grantCreatedAt: row.issuedAt } : { ...row, grantCreatedAt: row.issuedAt },
        );
      }
      return [...grants.values()];
    },
    async findGrant(grantId) {
      const row = await prisma.sessionToken.findFirst({ where: { grantId }, orderBy: { issuedAt: 'desc' } });
      return row ?? undefined;
    },
  };
}
