import { randomUUID } from 'node:crypto';
import type { RevocationChecker } from '@aauth-ref/fastify';
import { LRUCache } from 'lru-cache';
import type { Prisma } from '../generated/prisma/client.js';
import type { AgentRef } from '../services/ports.js';
import type {
  CascadeFailure,
  IssuedTokenRef,
  RevocationEntry,
  RevocationStore,
} from '../services/revocation-service.js';
import type { PrismaClient, PrismaTx } from './prisma.js';

/** Revocation state keyed by `(iss, jti)` (§Token Revocation), read by the verification hook. */
export function createPrismaRevocationChecker(prisma: PrismaClient): RevocationChecker {
  return {
    async isRevoked(iss, jti) {
      const row = await prisma.revocation.findUnique({
        where: { iss_jti: { iss, jti } },
        select: { jti: true },
      });
      return row !== null;
    },
  };
}

type Db = PrismaClient | PrismaTx;

async function recordRevocations(db: Db, entries: readonly RevocationEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db.revocation.createMany({
    data: entries.map((entry) => ({
      iss: entry.iss,
      jti: entry.jti,
      revokedAt: entry.at,
      reason: entry.reason,
      expiresAt: entry.expiresAt,
    })),
    // A second revocation of the same pair keeps the first (and its time): revoking is idempotent.
    skipDuplicates: true,
  });
}

/**
 * Marks the unexpired, unrevoked auth tokens matching `where` revoked and returns them. The update is
 * conditional on `revokedAt: null`, so two concurrent revocations never both report (and notify) a token.
 */
async function revokeAuthTokensWhere(
  db: Db,
  where: Prisma.IssuedAuthTokenWhereInput,
  at: Date,
): Promise<IssuedTokenRef[]> {
  const candidates = await db.issuedAuthToken.findMany({
    where: { ...where, revokedAt: null, exp: { gt: at } },
    select: { jti: true, iss: true, aud: true, exp: true },
    take: 1000,
  });
  const revoked: IssuedTokenRef[] = [];
  for (const row of candidates) {
    const { count } = await db.issuedAuthToken.updateMany({
      where: { jti: row.jti, revokedAt: null },
      data: { revokedAt: at },
    });
    if (count === 1)
      revoked.push({ kind: 'auth', jti: row.jti, iss: row.iss, resource: row.aud, exp: row.exp });
  }
  return revoked;
}

/** Unexpired person tokens matching `where` that are not revoked yet. */
async function findLivePersonTokens(
  db: Db,
  issuer: string,
  where: Prisma.PersonTokenRecordWhereInput,
  at: Date,
): Promise<IssuedTokenRef[]> {
  const rows = await db.personTokenRecord.findMany({
    where: { ...where, exp: { gt: at } },
    select: { jti: true, resource: true, exp: true },
    take: 1000,
  });
  if (rows.length === 0) return [];
  const already = await db.revocation.findMany({
    where: { iss: issuer, jti: { in: rows.map((row) => row.jti) } },
    select: { jti: true },
  });
  const revoked = new Set(already.map((row) => row.jti));
  return rows
    .filter((row) => !revoked.has(row.jti))
    .map((row) => ({ kind: 'person', jti: row.jti, iss: issuer, resource: row.resource, exp: row.exp }));
}

function tokenEntries(tokens: readonly IssuedTokenRef[], at: Date, reason: string): RevocationEntry[] {
  return tokens.map((token) => ({ iss: token.iss, jti: token.jti, at, reason, expiresAt: token.exp }));
}

/** The revocation service's port on the PS database. `issuer` is this PS (and its AP). */
export function createPrismaRevocationStore(prisma: PrismaClient, issuer: string): RevocationStore {
  async function revokeForAgentInTx(
    tx: Db,
    agent: AgentRef,
    at: Date,
    reason: string,
    personId?: string,
  ): Promise<IssuedTokenRef[]> {
    const scope = { agentIss: agent.iss, agentSub: agent.sub, ...(personId ? { personId } : {}) };
    const auth = await revokeAuthTokensWhere(tx, scope, at);
    const person = await findLivePersonTokens(tx, issuer, scope, at);
    await recordRevocations(tx, tokenEntries([...auth, ...person], at, reason));
    return [...auth, ...person];
  }

  return {
    async findSeenAgentToken(iss, jti) {
      const row = await prisma.seenAgentToken.findUnique({
        where: { iss_jti: { iss, jti } },
        select: { sub: true },
      });
      return row === null ? undefined : { iss, sub: row.sub };
    },
    async findIssuedAgentToken(jti) {
      const row = await prisma.issuedAgentToken.findUnique({
        where: { jti },
        select: { sub: true, parentAgent: true, expiresAt: true },
      });
      return row ?? undefined;
    },
    async findPersonToken(jti) {
      const row = await prisma.personTokenRecord.findUnique({
        where: { jti },
        select: { jti: true, resource: true, exp: true, personId: true },
      });
      return row
        ? { kind: 'person', jti: row.jti, iss: issuer, resource: row.resource, exp: row.exp }
        : undefined;
    },
    async findAuthToken(iss, jti) {
      const row = await prisma.issuedAuthToken.findUnique({
        where: { jti },
        select: { jti: true, iss: true, aud: true, exp: true },
      });
      return row && row.iss === iss
        ? { kind: 'auth', jti: row.jti, iss: row.iss, resource: row.aud, exp: row.exp }
        : undefined;
    },
    async isRevoked(iss, jti) {
      const row = await prisma.revocation.findUnique({
        where: { iss_jti: { iss, jti } },
        select: { jti: true },
      });
      return row !== null;
    },
    async recordRevocation(entry) {
      await recordRevocations(prisma, [entry]);
    },
    async revokeAuthToken(jti, at, personId) {
      return prisma.$transaction(async (tx) => {
        const [token] = await revokeAuthTokensWhere(tx, { jti, ...(personId ? { personId } : {}) }, at);
        if (token) await recordRevocations(tx, tokenEntries([token], at, 'auth_token'));
        return token;
      });
    },
    async revokePersonToken(jti, at, personId) {
      return prisma.$transaction(async (tx) => {
        const [token] = await findLivePersonTokens(tx, issuer, { jti, personId }, at);
        if (token) await recordRevocations(tx, tokenEntries([token], at, 'person_token'));
        return token;
      });
    },
    async revokeTokensForAgent(agent, at, reason) {
      return prisma.$transaction((tx) => revokeForAgentInTx(tx, agent, at, reason));
    },
    async revokeBinding(personId, agent, at) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.agentBinding.updateMany({
          where: { personId, agentIss: agent.iss, agentSub: agent.sub, revokedAt: null },
          data: { revokedAt: at },
        });
        if (count === 0) return undefined;
        // A later binding (to this person or another) starts from a clean slate: nothing the person
        // granted this agent survives the binding it was granted under.
        const consentScope = { personId, agentIss: agent.iss, agentSub: agent.sub, revokedAt: null };
        await tx.resourceConsent.updateMany({ where: consentScope, data: { revokedAt: at } });
        await tx.scopeConsent.updateMany({ where: consentScope, data: { revokedAt: at } });
        if (agent.iss === issuer) {
          // An agent of this origin's own AP: no new agent tokens, and the outstanding ones are void.
          await tx.enrollment.updateMany({
            where: { agentSub: agent.sub, personId, status: 'approved' },
            data: { status: 'revoked', decidedAt: at },
          });
          const agentTokens = await tx.issuedAgentToken.findMany({
            where: { OR: [{ sub: agent.sub }, { parentAgent: agent.sub }], expiresAt: { gt: at } },
            select: { jti: true, expiresAt: true },
            take: 1000,
          });
          await recordRevocations(
            tx,
            agentTokens.map((row) => ({
              iss: issuer,
              jti: row.jti,
              at,
              reason: 'enrollment_revoked',
              expiresAt: row.expiresAt,
            })),
          );
        }
        return revokeForAgentInTx(tx, agent, at, 'binding_revoked', personId);
      });
    },
    async revokeTokensForMission(personId, missionS256, at) {
      return prisma.$transaction(async (tx) => {
        const scope = { personId, missionS256 };
        const auth = await revokeAuthTokensWhere(tx, scope, at);
        const person = await findLivePersonTokens(tx, issuer, scope, at);
        await recordRevocations(tx, tokenEntries([...auth, ...person], at, 'mission_revoked'));
        return [...auth, ...person];
      });
    },
    async recordCascadeFailure(failure: CascadeFailure, at: Date) {
      await prisma.securityEvent.create({
        data: {
          id: randomUUID(),
          event: 'revocation.cascade_failed',
          detail: { ...failure } as Prisma.InputJsonValue,
          createdAt: at,
        },
      });
    },
  };
}

/**
 * Remembers the agent tokens of other Agent Providers that sign requests here, `(iss, jti)` → agent,
 * until they expire, so a later revocation of one by its AP reaches what the PS issued for that agent.
 * A bounded in-memory set skips the write for tokens already recorded by this instance.
 */
export function createSeenAgentTokenRecorder(
  prisma: PrismaClient,
  clock: { now(): number },
): (claims: { iss: string; jti: string; sub: string; exp: number }) => Promise<void> {
  const recorded = new LRUCache<string, true>({ max: 10_000 });
  let lastPurge = 0;
  return async ({ iss, jti, sub, exp }) => {
    const key = `${iss} ${jti}`;
    if (recorded.has(key)) return;
    const now = clock.now();
    if (now - lastPurge >= 3_600_000) {
      lastPurge = now;
      await prisma.seenAgentToken.deleteMany({ where: { expiresAt: { lte: new Date(now) } } });
    }
    await prisma.seenAgentToken.createMany({
      data: [{ iss, jti, sub, expiresAt: new Date(exp * 1000) }],
      skipDuplicates: true,
    });
    recorded.set(key, true);
  };
}
