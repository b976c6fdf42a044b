import { Prisma } from '../generated/prisma/client.js';
import type { PendingRecord, PendingStatus, PendingStore } from '../services/pending-store.js';
import type { GrantContext } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

type Row = Awaited<ReturnType<PrismaClient['pendingRequest']['findUniqueOrThrow']>>;

function toRecord(row: Row): PendingRecord {
  return {
    id: row.id,
    ps: row.ps,
    status: row.status as PendingStatus,
    context: row.request as unknown as GrantContext,
    requiredClaims: (row.requiredClaims as string[] | null) ?? null,
    claims: (row.claims as Record<string, unknown> | null) ?? null,
    result: row.result,
    retryAfter: row.retryAfter,
    lastPolledAt: row.lastPolledAt,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    terminalAt: row.terminalAt,
  };
}

const json = (value: unknown) => value as Prisma.InputJsonValue;

/** `pending_request` through Prisma; conditional updates make each transition happen once. */
export function createPrismaPendingStore(prisma: PrismaClient): PendingStore {
  return {
    async insert(record) {
      await prisma.pendingRequest.create({
        data: {
          id: record.id,
          ps: record.ps,
          status: record.status,
          request: json(record.context),
          ...(record.requiredClaims ? { requiredClaims: json(record.requiredClaims) } : {}),
          ...(record.claims ? { claims: json(record.claims) } : {}),
          retryAfter: record.retryAfter,
          lastPolledAt: record.lastPolledAt,
          createdAt: record.createdAt,
          expiresAt: record.expiresAt,
        },
      });
    },
    async find(id) {
      const row = await prisma.pendingRequest.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },
    async markPolled(id, at) {
      await prisma.pendingRequest.updateMany({ where: { id }, data: { lastPolledAt: at } });
    },
    async finish(id, at, status) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, terminalAt: null },
        data: { terminalAt: at, ...(status ? { status } : {}) },
      });
      return result.count === 1;
    },
    async transition(id, from, update) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, status: from, terminalAt: null },
        data: {
          status: update.status,
          ...(update.requiredClaims === undefined
            ? {}
            : {
                requiredClaims: update.requiredClaims === null ? Prisma.DbNull : json(update.requiredClaims),
              }),
          ...(update.claims === undefined ? {} : { claims: json(update.claims) }),
          ...(update.result === undefined ? {} : { result: json(update.result) }),
        },
      });
      return result.count === 1;
    },
  };
}
