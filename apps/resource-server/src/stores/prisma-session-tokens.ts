import type { SessionTokenStore } from '../services/session-tokens.js';
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
  };
}
