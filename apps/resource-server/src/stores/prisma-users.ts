import { randomUUID } from 'node:crypto';
import type { SessionBackend } from '@aauth-ref/fastify';
import type { PrismaClient } from './prisma.js';

/** The resource's own accounts (resource-managed access) and their browser sessions. */

export interface ResourceUser {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
}

export interface ResourceUserWithPassword extends ResourceUser {
  readonly passwordHash: string;
}

export interface UserStore {
  find(id: string): Promise<ResourceUser | undefined>;
  findByUsername(username: string): Promise<ResourceUserWithPassword | undefined>;
  /** Creates the user unless the username exists; whether it was created. */
  createIfAbsent(user: { username: string; passwordHash: string; displayName: string }): Promise<boolean>;
}

export function createPrismaUserStore(prisma: PrismaClient): UserStore {
  return {
    async find(id) {
      const row = await prisma.resourceUser.findUnique({
        where: { id },
        select: { id: true, username: true, displayName: true },
      });
      return row ?? undefined;
    },
    async findByUsername(username) {
      const row = await prisma.resourceUser.findUnique({
        where: { username },
        select: { id: true, username: true, displayName: true, passwordHash: true },
      });
      return row ?? undefined;
    },
    async createIfAbsent(user) {
      const { count } = await prisma.resourceUser.createMany({
        data: [{ id: randomUUID(), ...user }],
        skipDuplicates: true,
      });
      return count === 1;
    },
  };
}

/** The web kit's session persistence on `web_session` (the web kit's `personId` is a resource user id). */
export function createPrismaSessionBackend(prisma: PrismaClient): SessionBackend {
  return {
    async insert(record) {
      await prisma.webSession.create({
        data: {
          idHash: record.idHash,
          userId: record.personId,
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
            personId: row.userId,
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
