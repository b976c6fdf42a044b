import type { Database } from '@aauth-ref/db';
import { type Prisma, PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient } from '../generated/prisma/client.js';

/** The transaction client Prisma hands an interactive transaction's callback. */
export type PrismaTx = Prisma.TransactionClient;

/** A Prisma client over the database's driver adapter (PostgreSQL or embedded PGlite). */
export function createPrismaClient(db: Database): PrismaClient {
  return new PrismaClient({ adapter: db.adapter });
}
