import { randomUUID } from 'node:crypto';
import type { Clock } from '@aauth-ref/core';
import { Prisma } from '../generated/prisma/client.js';
import type {
  DirectedSubjectStore,
  IssuedAuthTokenStore,
  PersonTokenRecordStore,
  RememberedR3Decision,
  ResourceConsentStore,
  ScopeConsentStore,
  SecurityEventLog,
} from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/** The token services' ports (`services/ports.ts`) on the PS database. */

/** Unique violation (Prisma's P2002): another request stored the same key first. */
function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002';
}

export function createPrismaDirectedSubjectStore(prisma: PrismaClient): DirectedSubjectStore {
  return {
    async find(personId, resource) {
      const row = await prisma.directedSubject.findUnique({
        where: { personId_resource: { personId, resource } },
      });
      return row?.sub;
    },
    async findOrCreate(personId, resource, candidate) {
      try {
        await prisma.directedSubject.create({ data: { personId, resource, sub: candidate } });
        return candidate;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const row = await prisma.directedSubject.findUnique({
          where: { personId_resource: { personId, resource } },
        });
        if (!row) throw err;
        return row.sub;
      }
    },
  };
}

export function createPrismaPersonTokenRecordStore(prisma: PrismaClient): PersonTokenRecordStore {
  return {
    async insert(r) {
      // Every person token issuance writes this row: a plain statement (no RETURNING, no query builder)
      // costs about half the client CPU of `create` (docs/benchmarks.md, *Person Server issuance*).
      await prisma.$executeRaw`
        INSERT INTO "person_token_record" ("jti", "ps", "sub", "mission_s256", "tenant", "exp", "resource",
          "person_id", "agent_iss", "agent_sub", "subagent_sub", "cnf_jkt", "issued_at")
        VALUES (${r.jti}, ${r.ps}, ${r.sub}, ${r.missionS256}, ${r.tenant}, ${r.exp}, ${r.resource},
          ${r.personId}::uuid, ${r.agentIss}, ${r.agentSub}, ${r.subagentSub}, ${r.cnfJkt}, ${r.issuedAt})`;
    },
    async findByJti(jti) {
      const record = await prisma.personTokenRecord.findUnique({ where: { jti } });
      if (record === null) return undefined;
      const revocation = await prisma.revocation.findUnique({
        where: { iss_jti: { iss: record.ps, jti } },
        select: { jti: true },
      });
      return { ...record, revoked: revocation !== null };
    },
    async hasIssuedForResource(agent, resource) {
      const row = await prisma.personTokenRecord.findFirst({
        where: { agentIss: agent.iss, agentSub: agent.sub, resource },
        select: { jti: true },
      });
      return row !== null;
    },
    async countNewResourcesSince(agent, since) {
      // A resource is new in the window when its first person token for this agent is in it.
      const groups = await prisma.personTokenRecord.groupBy({
        by: ['resource'],
        where: { agentIss: agent.iss, agentSub: agent.sub },
        _min: { issuedAt: true },
      });
      return groups.filter((g) => g._min.issuedAt !== null && g._min.issuedAt >= since).length;
    },
  };
}

export function createPrismaResourceConsentStore(prisma: PrismaClient): ResourceConsentStore {
  return {
    async has(key) {
      const row = await prisma.resourceConsent.findFirst({
        where: {
          personId: key.personId,
          agentIss: key.agent.iss,
          agentSub: key.agent.sub,
          resource: key.resource,
          revokedAt: null,
        },
        select: { resource: true },
      });
      return row !== null;
    },
    async grant(key) {
      const id = {
        personId: key.personId,
        agentIss: key.agent.iss,
        agentSub: key.agent.sub,
        resource: key.resource,
      };
      await prisma.resourceConsent.upsert({
        where: { personId_agentIss_agentSub_resource: id },
        create: id,
        update: { revokedAt: null },
      });
    },
  };
}

export function createPrismaScopeConsentStore(prisma: PrismaClient): ScopeConsentStore {
  return {
    async list(key) {
      const rows = await prisma.scopeConsent.findMany({
        where: {
          personId: key.personId,
          agentIss: key.agent.iss,
          agentSub: key.agent.sub,
          resource: key.resource,
          revokedAt: null,
        },
        select: { scope: true, missionS256: true, r3S256: true, r3Granted: true, r3PerCall: true },
      });
      return rows.map(({ scope, missionS256, r3S256, r3Granted, r3PerCall }) =>
        r3S256 === null
          ? { scope, missionS256 }
          : {
              scope,
              missionS256,
              // Written only by `grant` below, always as arrays of operation objects.
              r3: {
                r3S256,
                granted: (r3Granted ?? []) as RememberedR3Decision['granted'],
                perCall: (r3PerCall ?? []) as RememberedR3Decision['perCall'],
              },
            },
      );
    },
    async grant(key, consent) {
      await prisma.scopeConsent.create({
        data: {
          id: randomUUID(),
          personId: key.personId,
          agentIss: key.agent.iss,
          agentSub: key.agent.sub,
          resource: key.resource,
          scope: consent.scope,
          missionS256: consent.missionS256,
          ...(consent.r3 === undefined
            ? {}
            : {
                r3S256: consent.r3.r3S256,
                r3Granted: consent.r3.granted as unknown as Prisma.InputJsonArray,
                r3PerCall: consent.r3.perCall as unknown as Prisma.InputJsonArray,
              }),
        },
      });
    },
  };
}

export function createPrismaIssuedAuthTokenStore(prisma: PrismaClient): IssuedAuthTokenStore {
  return {
    async insert(record, r3) {
      if (r3 === undefined) {
        await prisma.issuedAuthToken.create({ data: { ...record } });
        return;
      }
      // One transaction: no R3 token is recorded without its audit entry (R3 §Audit Log Integrity).
      await prisma.$transaction([
        prisma.issuedAuthToken.create({ data: { ...record } }),
        prisma.r3AuditRecord.create({
          data: {
            ...r3,
            jti: record.jti,
            r3Granted: r3.r3Granted as Prisma.InputJsonValue,
            r3PerCall: r3.r3PerCall === null ? Prisma.DbNull : (r3.r3PerCall as Prisma.InputJsonValue),
          },
        }),
      ]);
    },
    async findByJti(jti) {
      return (await prisma.issuedAuthToken.findUnique({ where: { jti } })) ?? undefined;
    },
  };
}

export function createPrismaSecurityEventLog(prisma: PrismaClient, clock: Clock): SecurityEventLog {
  return {
    async record(event) {
      await prisma.securityEvent.create({
        data: {
          id: randomUUID(),
          event: event.event,
          detail: event.detail as Prisma.InputJsonValue,
          createdAt: new Date(clock.now()),
        },
      });
    },
  };
}
