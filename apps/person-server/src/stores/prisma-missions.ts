import type { Prisma } from '../generated/prisma/client.js';
import type {
  MissionRecordFull,
  MissionStore,
  MissionView,
  NewMission,
} from '../services/mission-service.js';
import type { MissionLogAppend, MissionOwnerFilter, MissionRecord } from '../services/ports.js';
import type { PrismaClient, PrismaTx } from './prisma.js';

/** Missions and their log (§Mission, §Mission Log) on the PS database. */

type Db = PrismaClient | PrismaTx;

const LOOKUP_SELECT = {
  s256: true,
  agentIss: true,
  agentSub: true,
  personId: true,
  status: true,
  terminationReason: true,
  expiresAt: true,
  capabilities: true,
} as const;

type LookupRow = Prisma.MissionGetPayload<{ select: typeof LOOKUP_SELECT }>;

function toRecord(row: LookupRow): MissionRecord {
  return {
    s256: row.s256,
    agent: row.agentSub,
    agentIss: row.agentIss,
    personId: row.personId,
    status: row.status === 'active' ? 'active' : 'terminated',
    ...(row.terminationReason === null ? {} : { terminationReason: row.terminationReason }),
    ...(row.expiresAt === null ? {} : { expiresAt: row.expiresAt }),
    ...(Array.isArray(row.capabilities) ? { capabilities: row.capabilities as string[] } : {}),
  };
}

async function appendEntry(db: Db, missionS256: string, entry: MissionLogAppend, at: Date): Promise<void> {
  await db.missionLogEntry.create({
    data: {
      missionS256,
      kind: entry.kind,
      detail: entry.detail as Prisma.InputJsonValue,
      s256: entry.s256 ?? null,
      blob: entry.blob === undefined ? null : Buffer.from(entry.blob),
      createdAt: at,
    },
  });
}

const LIST_LIMIT = 100;
const LOG_LIMIT = 500;

export function createPrismaMissionStore(prisma: PrismaClient, now: () => Date): MissionStore {
  return {
    async findMission(s256: string, owner: MissionOwnerFilter) {
      // One query with the owner in the WHERE clause: another agent's mission costs the same as none.
      const row = await prisma.mission.findFirst({
        where: {
          s256,
          ...(owner.agent ? { agentIss: owner.agent.iss, agentSub: owner.agent.sub } : {}),
          ...(owner.personId ? { personId: owner.personId } : {}),
        },
        select: LOOKUP_SELECT,
      });
      return row === null ? undefined : toRecord(row);
    },

    async terminate(s256, reason, at, personId) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.mission.updateMany({
          where: { s256, status: 'active', ...(personId ? { personId } : {}) },
          data: { status: 'terminated', terminationReason: reason, terminatedAt: at },
        });
        if (count === 1) await appendEntry(tx, s256, { kind: 'terminated', detail: { reason } }, at);
        return count === 1;
      });
    },

    async append(missionS256, entry) {
      await appendEntry(prisma, missionS256, entry, now());
    },

    async insert(mission: NewMission) {
      await prisma.$transaction(async (tx) => {
        await tx.mission.create({
          data: {
            s256: mission.s256,
            blob: Buffer.from(mission.blob),
            agentIss: mission.agent.iss,
            agentSub: mission.agent.sub,
            personId: mission.personId,
            status: 'active',
            approvedAt: mission.approvedAt,
            expiresAt: mission.expiresAt ?? null,
            description: mission.description,
            approvedTools: (mission.approvedTools ?? undefined) as Prisma.InputJsonValue | undefined,
            approvedResources: (mission.approvedResources ?? undefined) as Prisma.InputJsonValue | undefined,
            capabilities: (mission.capabilities ?? undefined) as Prisma.InputJsonValue | undefined,
          },
        });
        await appendEntry(tx, mission.s256, mission.firstEntry, mission.approvedAt);
      });
    },

    async findFull(s256, owner) {
      const row = await prisma.mission.findFirst({
        where: {
          s256,
          ...(owner.agent ? { agentIss: owner.agent.iss, agentSub: owner.agent.sub } : {}),
          ...(owner.personId ? { personId: owner.personId } : {}),
        },
      });
      return row === null ? undefined : toFull(row);
    },

    async listForPerson(personId) {
      const rows = await prisma.mission.findMany({
        where: { personId },
        orderBy: { approvedAt: 'desc' },
        take: LIST_LIMIT,
        include: { log: { orderBy: { id: 'asc' }, take: LOG_LIMIT } },
      });
      return rows.map(
        (row): MissionView => ({
          ...toFull(row),
          log: row.log.map((entry) => ({
            id: entry.id.toString(),
            kind: entry.kind,
            detail: entry.detail as Record<string, unknown>,
            ...(entry.s256 === null ? {} : { s256: entry.s256 }),
            ...(entry.blob === null ? {} : { blob: new Uint8Array(entry.blob) }),
            createdAt: entry.createdAt,
          })),
        }),
      );
    },
  };
}

type MissionRow = Awaited<ReturnType<PrismaClient['mission']['findUniqueOrThrow']>>;

function toFull(row: MissionRow): MissionRecordFull {
  return {
    ...toRecord(row),
    agentIss: row.agentIss,
    blob: new Uint8Array(row.blob),
    description: row.description,
    approvedAt: row.approvedAt,
    terminatedAt: row.terminatedAt,
  };
}
