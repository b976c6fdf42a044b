import type { Prisma } from '../generated/prisma/client.js';
import { GOVERNANCE_KINDS, type GovernanceKind, type GovernanceStore } from '../services/governance.js';
import type { PrismaClient } from './prisma.js';
import { approvePendingInTx } from './prisma-pending-store.js';

/**
 * Storage of the governance endpoints (§Permission Endpoint, §Audit Endpoint, §Interaction Endpoint):
 * the governance log (requests outside a mission) and the few conditional writes on
 * `pending_request` they add to the pending service's own.
 */
export function createPrismaGovernanceStore(prisma: PrismaClient): GovernanceStore {
  return {
    async appendLog(entry, at) {
      await prisma.governanceLogEntry.create({
        data: {
          agentIss: entry.agent.iss,
          agentSub: entry.agent.sub,
          personId: entry.personId ?? null,
          pendingId: entry.pendingId ?? null,
          kind: entry.kind,
          detail: entry.detail as Prisma.InputJsonValue,
          createdAt: at,
        },
      });
    },
    async assignToPerson(id, personId) {
      const { count } = await prisma.pendingRequest.updateMany({
        where: { id, status: 'pending', personId: null, codeConsumedAt: null, terminalAt: null },
        data: { personId },
      });
      return count === 1;
    },
    async hasLiveSession(personId, at) {
      const session = await prisma.webSession.findFirst({
        where: { personId, expiresAt: { gt: at } },
        select: { idHash: true },
      });
      return session !== null;
    },
    approve(id, personId, result) {
      return prisma.$transaction((tx) => approvePendingInTx(tx, id, personId, result));
    },
    async resolve(id, result) {
      const { count } = await prisma.pendingRequest.updateMany({
        where: { id, status: { in: ['pending', 'interacting'] }, terminalAt: null },
        data: { status: 'approved', result: result as Prisma.InputJsonValue },
      });
      return count === 1;
    },
    async markEngaged(id, at) {
      const { count } = await prisma.pendingRequest.updateMany({
        where: { id, status: 'pending', terminalAt: null },
        data: { status: 'interacting', codeConsumedAt: at },
      });
      return count === 1;
    },
    async expireUnengaged(id) {
      const { count } = await prisma.pendingRequest.updateMany({
        where: { id, status: 'pending', terminalAt: null },
        data: { status: 'expired' },
      });
      return count === 1;
    },
  };
}

/** An open governance request waiting for the person (their dashboard's "Waiting for you"). */
export interface WaitingRequest {
  readonly id: string;
  readonly kind: GovernanceKind;
  readonly agentSub: string;
  readonly createdAt: Date;
  /** `permission`: the action; `interaction_relay`: the type; `question`: `question`. */
  readonly summary: string;
}

/** The person's open governance requests, oldest first. */
export async function listWaitingRequests(
  prisma: PrismaClient,
  personId: string,
  at: Date,
): Promise<WaitingRequest[]> {
  const rows = await prisma.pendingRequest.findMany({
    where: {
      personId,
      kind: { in: [...GOVERNANCE_KINDS] },
      status: { in: ['pending', 'interacting'] },
      terminalAt: null,
      expiresAt: { gt: at },
    },
    select: { id: true, kind: true, agentSub: true, createdAt: true, request: true },
    orderBy: { createdAt: 'asc' },
    take: 50,
  });
  return rows.map((row) => {
    const plan = (row.request as { plan?: { action?: unknown; type?: unknown } } | null)?.plan ?? {};
    const summary =
      row.kind === 'permission'
        ? String(plan.action ?? '')
        : row.kind === 'question'
          ? 'question'
          : String(plan.type ?? '');
    return {
      id: row.id,
      kind: row.kind as GovernanceKind,
      agentSub: row.agentSub ?? '',
      createdAt: row.createdAt,
      summary,
    };
  });
}
