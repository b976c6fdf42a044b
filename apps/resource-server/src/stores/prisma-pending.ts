import { createPendingRowStore } from '@aauth-ref/fastify';
import type { Prisma } from '../generated/prisma/client.js';
import type {
  HeldInvocation,
  InvocationResult,
  PendingKind,
  PendingRecord,
  PendingStatus,
  PendingStore,
} from '../services/pending-service.js';
import type { PrismaClient } from './prisma.js';
import { createPrismaNoteStore } from './prisma-notes.js';

type Row = Awaited<ReturnType<PrismaClient['pendingRequest']['findUnique']>> & {};

function toRecord(row: Row): PendingRecord {
  return {
    id: row.id,
    kind: row.kind as PendingKind,
    ownerJkt: row.ownerJkt,
    status: row.status as PendingStatus,
    interactionCode: row.interactionCode,
    codeConsumedAt: row.codeConsumedAt,
    userId: row.userId,
    callbackUrl: row.callbackUrl,
    agentIss: row.agentIss,
    scope: row.scope,
    invocation: (row.invocation ?? null) as HeldInvocation | null,
    resourceToken: row.resourceToken,
    resourceTokenExp: row.resourceTokenExp,
    result: (row.result ?? null) as InvocationResult | null,
    authIss: row.authIss,
    authJti: row.authJti,
    resultUntil: row.resultUntil,
    retryAfter: row.retryAfter,
    lastPolledAt: row.lastPolledAt,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    terminalAt: row.terminalAt,
  };
}

/** `pending_request` rows; state changes are conditional updates, so instances never double-decide. */
export function createPrismaPendingStore(prisma: PrismaClient): PendingStore {
  return {
    async insert(record) {
      await prisma.pendingRequest.create({
        data: {
          id: record.id,
          kind: record.kind,
          ownerJkt: record.ownerJkt,
          status: 'pending',
          interactionCode: record.interactionCode,
          agentIss: record.agentIss,
          scope: record.scope,
          ...(record.invocation === null
            ? {}
            : { invocation: record.invocation as unknown as Prisma.InputJsonValue }),
          resourceToken: record.resourceToken,
          resourceTokenExp: record.resourceTokenExp,
          retryAfter: record.retryAfter,
          lastPolledAt: record.lastPolledAt,
          createdAt: record.createdAt,
          expiresAt: record.expiresAt,
        },
      });
    },
    ...createPendingRowStore(prisma.pendingRequest, toRecord, 'userId'),
    async decide(id, userId, status) {
      const { count } = await prisma.pendingRequest.updateMany({
        where: { id, userId, status: 'interacting', terminalAt: null },
        data: { status },
      });
      return count === 1;
    },
    async setResourceToken(id, token, exp) {
      await prisma.pendingRequest.updateMany({
        where: { id, terminalAt: null },
        data: { resourceToken: token, resourceTokenExp: exp },
      });
    },
    async deliverSession(id, at, session) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.pendingRequest.updateMany({
          where: { id, status: 'approved', terminalAt: null },
          data: { status: 'completed', terminalAt: at },
        });
        if (count !== 1) return false;
        await tx.sessionToken.create({ data: { ...session } });
        return true;
      });
    },
    async executeInvocation(id, claim, run) {
      return prisma.$transaction(async (tx) => {
        // The conditional update takes the row lock: a concurrent poll waits, then finds it completed.
        const { count } = await tx.pendingRequest.updateMany({
          where: { id, status: 'pending', terminalAt: null },
          data: { status: 'completed', terminalAt: claim.at },
        });
        if (count !== 1) return undefined;
        const result = await run(createPrismaNoteStore(tx));
        await tx.pendingRequest.update({
          where: { id },
          data: {
            result: result as unknown as Prisma.InputJsonValue,
            authIss: claim.authIss,
            authJti: claim.authJti,
            resultUntil: claim.resultUntil,
          },
        });
        return result;
      });
    },
  };
}
