import { randomUUID } from 'node:crypto';
import type { Prisma } from '../generated/prisma/client.js';
import type {
  ApproveEnrollmentInput,
  ApproveEnrollmentOutcome,
  EnrollmentRecord,
  EnrollmentStore,
  IssuedAgentTokenRecord,
} from '../services/enrollment-service.js';
import type { PrismaClient } from './prisma.js';
import { bindAgentInTx } from './prisma-bindings.js';
import { approvePendingInTx } from './prisma-pending-store.js';

type Row = Awaited<ReturnType<PrismaClient['enrollment']['findUniqueOrThrow']>>;

function toRecord(row: Row): EnrollmentRecord {
  return {
    id: row.id,
    durableJkt: row.durableJkt,
    agentSub: row.agentSub,
    ps: row.ps,
    status: row.status as EnrollmentRecord['status'],
    personId: row.personId,
    name: row.name,
    platform: row.platform,
    device: row.device,
    createdAt: row.createdAt,
  };
}

/** Thrown inside the approval transaction to roll it back with a known outcome. */
class Refused extends Error {
  constructor(readonly outcome: ApproveEnrollmentOutcome) {
    super(outcome.kind);
  }
}

export function createPrismaEnrollmentStore(prisma: PrismaClient): EnrollmentStore {
  return {
    async findByDurableJkt(durableJkt) {
      const row = await prisma.enrollment.findUnique({ where: { durableJkt } });
      return row ? toRecord(row) : undefined;
    },
    async findByAgentSub(agentSub) {
      const row = await prisma.enrollment.findUnique({ where: { agentSub } });
      return row ? toRecord(row) : undefined;
    },
    async listForPerson(personId) {
      const rows = await prisma.enrollment.findMany({
        where: { personId },
        orderBy: { createdAt: 'desc' },
        take: 200,
      });
      return rows.map(toRecord);
    },
    async approve(input: ApproveEnrollmentInput): Promise<ApproveEnrollmentOutcome> {
      try {
        return await prisma.$transaction(async (tx) => {
          let enrollment = await tx.enrollment.findUnique({ where: { durableJkt: input.durableJkt } });
          if (enrollment && (enrollment.status !== 'approved' || enrollment.personId !== input.personId)) {
            throw new Refused({ kind: 'bound_to_other' });
          }
          enrollment ??= await tx.enrollment.create({
            data: {
              id: randomUUID(),
              durableJkt: input.durableJkt,
              durableJwk: input.durableJwk as unknown as Prisma.InputJsonValue,
              agentSub: input.agentSub,
              ps: input.ps,
              status: 'approved',
              personId: input.personId,
              name: input.name,
              platform: input.platform,
              device: input.device,
              createdAt: input.at,
              decidedAt: input.at,
            },
          });
          const bound = await bindAgentInTx(
            tx,
            { iss: input.issuer, sub: enrollment.agentSub },
            input.personId,
            {
              agentName: input.name,
              platform: input.platform,
              device: input.device,
            },
          );
          if (bound === 'bound_to_other') throw new Refused({ kind: 'bound_to_other' });
          const result = { status: 'approved', agent: enrollment.agentSub };
          if (!(await approvePendingInTx(tx, input.pendingId, input.personId, result))) {
            throw new Refused({ kind: 'not_open' });
          }
          return { kind: 'approved', agentSub: enrollment.agentSub } as const;
        });
      } catch (err) {
        if (err instanceof Refused) return err.outcome;
        throw err;
      }
    },
    async recordAgentToken(record: IssuedAgentTokenRecord) {
      await prisma.issuedAgentToken.create({ data: record });
    },
    async recordSubAgent(enrollmentId, sub, parentAgent) {
      await prisma.subAgent.upsert({
        where: { sub },
        create: { id: randomUUID(), enrollmentId, sub, parentAgent },
        update: {},
      });
    },
  };
}
