import type { ChainRecord, ChainStore } from '../services/chain-service.js';
import type { PrismaClient } from './prisma.js';

/** `chained_request` rows (§Interaction Chaining state, kept across restarts and instances). */
export function createPrismaChainStore(prisma: PrismaClient): ChainStore {
  return {
    async insert(record) {
      await prisma.chainedRequest.create({ data: { ...record } });
    },
    async find(id) {
      const row = await prisma.chainedRequest.findUnique({ where: { id } });
      return row === null ? undefined : (row as ChainRecord);
    },
    async findByInteractionCode(code) {
      const row = await prisma.chainedRequest.findUnique({ where: { interactionCode: code } });
      return row === null ? undefined : (row as ChainRecord);
    },
    async update(id, changes) {
      await prisma.chainedRequest.update({ where: { id }, data: { ...changes } });
    },
  };
}
