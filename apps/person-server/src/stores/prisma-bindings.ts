import { randomUUID } from 'node:crypto';
import type { AgentBindingLookup, AgentRef } from '../services/ports.js';
import type { PrismaClient, PrismaTx } from './prisma.js';

/** Display values the agent supplied, shown on the dashboard (§Agent-Person Binding). */
export interface AgentBindingDetails {
  readonly agentName?: string | null;
  readonly platform?: string | null;
  readonly device?: string | null;
}

export interface AgentBindingView extends AgentBindingDetails {
  readonly agentIss: string;
  readonly agentSub: string;
  readonly createdAt: Date;
}

export type BindOutcome = 'bound' | 'already_bound' | 'bound_to_other';

export interface AgentBindingStore extends AgentBindingLookup {
  /** The active bindings of a person, newest first. */
  listForPerson(personId: string): Promise<AgentBindingView[]>;
}

type Db = PrismaClient | PrismaTx;

/**
 * Binds `agent` to `personId` inside the caller's transaction (§Agent-Person Binding: exactly one
 * person per agent; "the PS MUST NOT allow a different person to claim the same agent"). A
 * transaction-scoped advisory lock on the agent serializes concurrent first bindings across
 * instances, so two people approving at the same moment cannot both win.
 */
export async function bindAgentInTx(
  tx: PrismaTx,
  agent: AgentRef,
  personId: string,
  details: AgentBindingDetails,
): Promise<BindOutcome> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`agent-binding\n${agent.iss}\n${agent.sub}`}))`;
  const existing = await findActiveBinding(tx, agent);
  if (existing) return existing.personId === personId ? 'already_bound' : 'bound_to_other';
  await tx.agentBinding.create({
    data: {
      id: randomUUID(),
      agentIss: agent.iss,
      agentSub: agent.sub,
      personId,
      agentName: details.agentName ?? null,
      platform: details.platform ?? null,
      device: details.device ?? null,
    },
  });
  return 'bound';
}

function findActiveBinding(db: Db, agent: AgentRef) {
  return db.agentBinding.findFirst({
    where: { agentIss: agent.iss, agentSub: agent.sub, revokedAt: null },
    orderBy: { createdAt: 'asc' },
  });
}

export function createPrismaBindingStore(prisma: PrismaClient): AgentBindingStore {
  return {
    async findBoundPerson(agent) {
      return (await findActiveBinding(prisma, agent))?.personId;
    },
    async listForPerson(personId) {
      const rows = await prisma.agentBinding.findMany({
        where: { personId, revokedAt: null },
        orderBy: { createdAt: 'desc' },
        take: 200,
      });
      return rows.map((row) => ({
        agentIss: row.agentIss,
        agentSub: row.agentSub,
        agentName: row.agentName,
        platform: row.platform,
        device: row.device,
        createdAt: row.createdAt,
      }));
    },
  };
}
