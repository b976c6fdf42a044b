import type { SessionBackend } from '@aauth-ref/fastify';
import type { PrismaClient } from './prisma.js';

/** The web kit's session persistence on `web_session` (only the id's hash is stored). */
export function createPrismaSessionBackend(prisma: PrismaClient): SessionBackend {
  return {
    async insert(record) {
      await prisma.webSession.create({
        data: {
          idHash: record.idHash,
          personId: record.personId,
          createdAt: new Date(record.createdAt),
          expiresAt: new Date(record.expiresAt),
        },
      });
    },
    async find(idHash) {
      const row = await prisma.webSession.findUnique({ where: { idHash } });
      return row
        ? {
            idHash: row.idHash,
            personId: row.personId,
            createdAt: row.createdAt.getTime(),
            expiresAt: row.expiresAt.getTime(),
          }
        : undefined;
    },
    async delete(idHash) {
      await prisma.webSession.deleteMany({ where: { idHash } });
    },
  };
}
