import { createPendingRowStore } from '@aauth-ref/fastify';
import type { Prisma } from '../generated/prisma/client.js';
import type {
  ClarificationState,
  NewPendingRecord,
  PendingKind,
  PendingRecord,
  PendingStatus,
  PendingStore,
} from '../services/pending-service.js';
import type { PrismaClient } from './prisma.js';

type Row = Awaited<ReturnType<PrismaClient['pendingRequest']['findUniqueOrThrow']>>;

function toRecord(row: Row): PendingRecord {
  return {
    id: row.id,
    kind: row.kind as PendingKind,
    owner: { agentIss: row.agentIss, agentSub: row.agentSub, durableJkt: row.durableJkt },
    status: row.status as PendingStatus,
    request: row.request,
    result: row.result,
    interactionCode: row.interactionCode,
    codeConsumedAt: row.codeConsumedAt,
    personId: row.personId,
    callbackUrl: row.callbackUrl,
    clarification: (row.clarification as ClarificationState | null) ?? null,
    clarificationStep: row.clarificationRound,
    resourceCallbackId: row.resourceCallbackId,
    resourceDoneAt: row.resourceDoneAt,
    retryAfter: row.retryAfter,
    lastPolledAt: row.lastPolledAt,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    terminalAt: row.terminalAt,
  };
}

/** `pending_request` through Prisma; conditional updates make each transition happen once. */
export function createPrismaPendingStore(prisma: PrismaClient): PendingStore {
  return {
    async insert(record: NewPendingRecord) {
      await prisma.pendingRequest.create({
        data: {
          id: record.id,
          kind: record.kind,
          agentIss: record.owner.agentIss,
          agentSub: record.owner.agentSub,
          durableJkt: record.owner.durableJkt,
          status: 'pending',
          request: record.request as Prisma.InputJsonValue,
          interactionCode: record.interactionCode,
          retryAfter: record.retryAfter,
          lastPolledAt: record.lastPolledAt,
          createdAt: record.createdAt,
          expiresAt: record.expiresAt,
        },
      });
    },
    ...createPendingRowStore(prisma.pendingRequest, toRecord, 'personId'),
    async decide(id, personId, status) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, personId, status: 'interacting', terminalAt: null },
        data: { status },
      });
      return result.count === 1;
    },
    async writeClarification(id, write) {
      const result = await prisma.pendingRequest.updateMany({
        where: {
          id,
          status: 'interacting',
          terminalAt: null,
          clarificationRound: write.step,
          ...(write.personId === undefined ? {} : { personId: write.personId }),
        },
        data: {
          clarification: write.clarification as unknown as Prisma.InputJsonValue,
          clarificationRound: write.step + 1,
          ...(write.request === undefined ? {} : { request: write.request as Prisma.InputJsonValue }),
        },
      });
      return result.count === 1;
    },
    async setResourceCallback(id, personId, callbackId) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, personId, status: 'interacting', terminalAt: null, resourceCallbackId: null },
        data: { resourceCallbackId: callbackId },
      });
      return result.count === 1;
    },
    async findByResourceCallback(callbackId) {
      const row = await prisma.pendingRequest.findUnique({ where: { resourceCallbackId: callbackId } });
      return row ? toRecord(row) : undefined;
    },
    async completeResourceInteraction(id, personId, at) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, personId, status: 'interacting', terminalAt: null, resourceDoneAt: null },
        data: { resourceDoneAt: at },
      });
      return result.count === 1;
    },
  };
}

/**
 * Approves a pending request inside the caller's transaction: `interacting` (by `personId`) →
 * `approved` with the `200` body the next poll delivers.
 */
export async function approvePendingInTx(
  tx: Prisma.TransactionClient,
  id: string,
  personId: string,
  result: unknown,
): Promise<boolean> {
  const updated = await tx.pendingRequest.updateMany({
    where: { id, personId, status: 'interacting', terminalAt: null },
    data: { status: 'approved', result: result as Prisma.InputJsonValue },
  });
  return updated.count === 1;
}
