import { createPendingRowStore } from '@aauth-ref/fastify';
import { Prisma } from '../generated/prisma/client.js';
import type { PendingRecord, PendingStatus, PendingStore, StepFields } from '../services/pending-store.js';
import type { ClarificationQuestion } from '../services/policy.js';
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
    interactionCode: row.interactionCode,
    codeConsumedAt: row.codeConsumedAt,
    interactionPersonId: row.interactionPersonId,
    billingId: row.billingId,
    clarification: (row.clarification as ClarificationQuestion | null) ?? null,
    answers: (row.answers as Record<string, string> | null) ?? null,
    approvedAt: row.approvedAt,
    result: row.result,
    retryAfter: row.retryAfter,
    lastPolledAt: row.lastPolledAt,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    terminalAt: row.terminalAt,
  };
}

const json = (value: unknown) => value as Prisma.InputJsonValue;
const nullableJson = (value: unknown) => (value === null ? Prisma.DbNull : json(value));

/** The columns a step sets; a new interaction code resets its consumption. */
function stepData(fields: StepFields) {
  return {
    ...(fields.requiredClaims === undefined ? {} : { requiredClaims: nullableJson(fields.requiredClaims) }),
    ...(fields.interactionCode === undefined
      ? {}
      : { interactionCode: fields.interactionCode, codeConsumedAt: null, interactionPersonId: null }),
    ...(fields.billingId === undefined ? {} : { billingId: fields.billingId }),
    ...(fields.clarification === undefined ? {} : { clarification: nullableJson(fields.clarification) }),
    ...(fields.retryAfter === undefined ? {} : { retryAfter: fields.retryAfter }),
    ...(fields.expiresAt === undefined ? {} : { expiresAt: fields.expiresAt }),
  };
}

/** `pending_request` through Prisma; conditional updates make each transition happen once. */
export function createPrismaPendingStore(prisma: PrismaClient): PendingStore {
  return {
    ...createPendingRowStore(prisma.pendingRequest, toRecord, 'interactionPersonId'),
    async insert(record) {
      await prisma.pendingRequest.create({
        data: {
          id: record.id,
          ps: record.ps,
          status: record.status,
          request: json(record.context),
          lastPolledAt: record.lastPolledAt,
          createdAt: record.createdAt,
          ...stepData(record),
          retryAfter: record.retryAfter,
          expiresAt: record.expiresAt,
        },
      });
    },
    async transition(id, from, update) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, status: from, terminalAt: null },
        data: {
          status: update.status,
          ...stepData(update),
          ...(update.claims === undefined ? {} : { claims: json(update.claims) }),
          ...(update.answers === undefined ? {} : { answers: json(update.answers) }),
          ...(update.result === undefined ? {} : { result: json(update.result) }),
        },
      });
      return result.count === 1;
    },
    async findByBillingId(billingId) {
      const row = await prisma.pendingRequest.findUnique({ where: { billingId } });
      return row ? toRecord(row) : undefined;
    },
    // Unlike the shared one: the code is consumed whatever step the row waits in, and only an
    // `interaction` row moves on to `interacting`.
    async consumeCode(id, personId, at) {
      const consumed = await prisma.pendingRequest.updateMany({
        where: { id, codeConsumedAt: null, terminalAt: null, interactionCode: { not: null } },
        data: { codeConsumedAt: at, interactionPersonId: personId },
      });
      if (consumed.count !== 1) return false;
      await prisma.pendingRequest.updateMany({
        where: { id, status: 'interaction', terminalAt: null },
        data: { status: 'interacting' },
      });
      return true;
    },
    async recordApproval(id, adminId, at) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, status: 'approval', terminalAt: null, approvedAt: null },
        data: { approvedAt: at, approvedBy: adminId },
      });
      return result.count === 1;
    },
    async deny(id, from) {
      const result = await prisma.pendingRequest.updateMany({
        where: { id, status: { in: [...from] }, terminalAt: null },
        data: { status: 'denied' },
      });
      return result.count === 1;
    },
    async listOpen(status, limit) {
      const rows = await prisma.pendingRequest.findMany({
        where: { status, terminalAt: null },
        orderBy: { createdAt: 'asc' },
        take: limit,
      });
      return rows.map(toRecord);
    },
  };
}
