import { randomUUID } from 'node:crypto';
import type { PersonLookup, PersonRecord } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

export interface PersonWithPassword extends PersonRecord {
  readonly passwordHash: string;
}

export interface NewPerson {
  readonly username: string;
  readonly passwordHash: string;
  readonly displayName: string;
  readonly email?: string;
  /** The organization the person belongs to (the `tenant` claim), when any. */
  readonly tenant?: string;
}

export interface PersonStore extends PersonLookup {
  findByUsername(username: string): Promise<PersonWithPassword | undefined>;
  /** Creates the person unless the username exists; returns whether it was created. */
  createIfAbsent(person: NewPerson): Promise<boolean>;
}

function toRecord(row: {
  id: string;
  username: string;
  displayName: string;
  email: string | null;
  tenant: string | null;
}): PersonRecord {
  return {
    id: row.id,
    username: row.username,
    displayName: row.displayName,
    email: row.email,
    tenant: row.tenant,
  };
}

export function createPrismaPersonStore(prisma: PrismaClient): PersonStore {
  return {
    async findPerson(personId) {
      const row = await prisma.person.findUnique({ where: { id: personId } });
      return row ? toRecord(row) : undefined;
    },
    async findByUsername(username) {
      const row = await prisma.person.findUnique({ where: { username } });
      return row ? { ...toRecord(row), passwordHash: row.passwordHash } : undefined;
    },
    async createIfAbsent(person) {
      const result = await prisma.person.createMany({
        data: [
          {
            id: randomUUID(),
            username: person.username,
            passwordHash: person.passwordHash,
            displayName: person.displayName,
            email: person.email ?? null,
            tenant: person.tenant ?? null,
          },
        ],
        skipDuplicates: true,
      });
      return result.count === 1;
    },
  };
}
