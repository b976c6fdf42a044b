import { randomUUID } from 'node:crypto';
import type { SessionBackend } from '@aauth-ref/fastify';
import type { TrustStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/** Persons, sessions, PS bindings and billing relationships of this AS (README, *Auth server*). */

export interface AsPerson {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly displayName: string;
  readonly isAdmin: boolean;
}

export interface PersonStore {
  findByUsername(username: string): Promise<AsPerson | undefined>;
  findById(id: string): Promise<AsPerson | undefined>;
  /** Creates the person unless the username exists; true when created. */
  createIfAbsent(person: Omit<AsPerson, 'id'>): Promise<boolean>;
}

export function createPrismaPersonStore(prisma: PrismaClient): PersonStore {
  return {
    async findByUsername(username) {
      return (await prisma.asPerson.findUnique({ where: { username } })) ?? undefined;
    },
    async findById(id) {
      return (await prisma.asPerson.findUnique({ where: { id } })) ?? undefined;
    },
    async createIfAbsent(person) {
      const result = await prisma.asPerson.createMany({
        data: [{ id: randomUUID(), ...person }],
        skipDuplicates: true,
      });
      return result.count === 1;
    },
  };
}

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

export interface BindingRow {
  readonly id: string;
  readonly ps: string;
  readonly sub: string;
  readonly personId: string;
  readonly username: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface FederationStore extends TrustStore {
  /** The person an active binding of `(ps, sub)` names. */
  findBoundPerson(ps: string, sub: string): Promise<string | undefined>;
  createBinding(ps: string, sub: string, personId: string, at: Date): Promise<void>;
  revokeBinding(id: string, at: Date): Promise<boolean>;
  listBindings(limit: number): Promise<BindingRow[]>;
  /** Records the relationship once; a second payment for the same PS changes nothing. */
  recordBilling(ps: string, personId: string, at: Date): Promise<void>;
  listIssuedTokens(limit: number): Promise<IssuedTokenRow[]>;
}

export interface IssuedTokenRow {
  readonly jti: string;
  readonly aud: string;
  readonly ps: string;
  readonly sub: string;
  readonly scope: string | null;
  readonly agentSub: string;
  readonly issuedAt: Date;
  readonly exp: Date;
  readonly revokedAt: Date | null;
}

export function createPrismaFederationStore(prisma: PrismaClient): FederationStore {
  const findBoundPerson = async (ps: string, sub: string) =>
    (
      await prisma.psBinding.findFirst({
        where: { ps, sub, revokedAt: null },
        select: { personId: true },
      })
    )?.personId;
  return {
    findBoundPerson,
    async isBound(ps, sub) {
      return (await findBoundPerson(ps, sub)) !== undefined;
    },
    async hasBilling(ps) {
      return (await prisma.billingRelationship.findUnique({ where: { ps }, select: { ps: true } })) !== null;
    },
    async createBinding(ps, sub, personId, at) {
      await prisma.psBinding.create({ data: { id: randomUUID(), ps, sub, personId, createdAt: at } });
    },
    async revokeBinding(id, at) {
      const result = await prisma.psBinding.updateMany({
        where: { id, revokedAt: null },
        data: { revokedAt: at },
      });
      return result.count === 1;
    },
    async listBindings(limit) {
      const rows = await prisma.psBinding.findMany({
        orderBy: { createdAt: 'desc' },
        take: limit,
        include: { person: { select: { username: true } } },
      });
      return rows.map((row) => ({
        id: row.id,
        ps: row.ps,
        sub: row.sub,
        personId: row.personId,
        username: row.person.username,
        createdAt: row.createdAt,
        revokedAt: row.revokedAt,
      }));
    },
    async listIssuedTokens(limit) {
      return prisma.issuedAuthToken.findMany({
        orderBy: { issuedAt: 'desc' },
        take: limit,
        select: {
          jti: true,
          aud: true,
          ps: true,
          sub: true,
          scope: true,
          agentSub: true,
          issuedAt: true,
          exp: true,
          revokedAt: true,
        },
      });
    },
    async recordBilling(ps, personId, at) {
      await prisma.billingRelationship.createMany({
        data: [{ ps, paidBy: personId, createdAt: at }],
        skipDuplicates: true,
      });
    },
  };
}
