import type { PrismaClient } from './prisma.js';

/**
 * What the person's dashboard reads and the consent revocations it makes. Every query is scoped to
 * the signed-in person: another person's entry is simply not found.
 */

export interface ResourceConsentView {
  readonly agentIss: string;
  readonly agentSub: string;
  readonly resource: string;
  readonly createdAt: Date;
}

export interface ScopeConsentView {
  readonly id: string;
  readonly agentIss: string;
  readonly agentSub: string;
  readonly resource: string;
  readonly scope: string;
  readonly missionS256: string | null;
  readonly createdAt: Date;
  /** Set when the consent was a decision on an R3 class document (operation lists). */
  readonly r3S256: string | null;
  readonly r3Granted: unknown;
  readonly r3PerCall: unknown;
}

/** The R3 document an auth token this PS issued was issued against (its `r3_audit_record`). */
export interface IssuedTokenR3View {
  readonly s256: string;
  /** The claims as issued: `{vocabulary, operations}`. */
  readonly granted: unknown;
  readonly perCall: unknown;
  readonly proposal: boolean;
}

export interface IssuedTokenView {
  readonly kind: 'person' | 'auth';
  readonly jti: string;
  readonly agentIss: string;
  readonly agentSub: string;
  readonly resource: string;
  /** Auth tokens only. */
  readonly scope: string | null;
  readonly exp: Date;
  readonly r3?: IssuedTokenR3View;
}

export interface DashboardStore {
  listResourceConsents(personId: string): Promise<ResourceConsentView[]>;
  listScopeConsents(personId: string): Promise<ScopeConsentView[]>;
  /** Person and auth tokens not yet expired nor revoked, soonest expiry first. */
  listLiveTokens(personId: string, now: Date): Promise<IssuedTokenView[]>;
  revokeResourceConsent(
    personId: string,
    key: { agentIss: string; agentSub: string; resource: string },
    at: Date,
  ): Promise<boolean>;
  revokeScopeConsent(personId: string, id: string, at: Date): Promise<boolean>;
}

const LIST_LIMIT = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createPrismaDashboardStore(prisma: PrismaClient, issuer: string): DashboardStore {
  return {
    async listResourceConsents(personId) {
      return prisma.resourceConsent.findMany({
        where: { personId, revokedAt: null },
        select: { agentIss: true, agentSub: true, resource: true, createdAt: true },
        orderBy: { createdAt: 'desc' },
        take: LIST_LIMIT,
      });
    },
    async listScopeConsents(personId) {
      return prisma.scopeConsent.findMany({
        where: { personId, revokedAt: null },
        select: {
          id: true,
          agentIss: true,
          agentSub: true,
          resource: true,
          scope: true,
          missionS256: true,
          createdAt: true,
          r3S256: true,
          r3Granted: true,
          r3PerCall: true,
        },
        orderBy: { createdAt: 'desc' },
        take: LIST_LIMIT,
      });
    },
    async listLiveTokens(personId, now) {
      const [auth, person] = await Promise.all([
        prisma.issuedAuthToken.findMany({
          where: { personId, revokedAt: null, exp: { gt: now } },
          select: {
            jti: true,
            agentIss: true,
            agentSub: true,
            aud: true,
            scope: true,
            exp: true,
          },
          orderBy: { exp: 'asc' },
          take: LIST_LIMIT,
        }),
        prisma.personTokenRecord.findMany({
          where: { personId, exp: { gt: now } },
          select: { jti: true, agentIss: true, agentSub: true, resource: true, exp: true },
          orderBy: { exp: 'asc' },
          take: LIST_LIMIT,
        }),
      ]);
      // The audit entry names its token by `jti` (no relation: it outlives the token record).
      const audits = new Map(
        auth.length === 0
          ? []
          : (
              await prisma.r3AuditRecord.findMany({
                where: { jti: { in: auth.map((row) => row.jti) } },
                select: { jti: true, r3S256: true, r3Granted: true, r3PerCall: true, proposal: true },
              })
            ).map((row) => [row.jti, row]),
      );
      const revoked =
        person.length === 0
          ? new Set<string>()
          : new Set(
              (
                await prisma.revocation.findMany({
                  where: { iss: issuer, jti: { in: person.map((row) => row.jti) } },
                  select: { jti: true },
                })
              ).map((row) => row.jti),
            );
      const tokens: IssuedTokenView[] = [
        ...auth.map((row) => {
          const audit = audits.get(row.jti);
          return {
            kind: 'auth' as const,
            jti: row.jti,
            agentIss: row.agentIss,
            agentSub: row.agentSub,
            resource: row.aud,
            scope: row.scope,
            exp: row.exp,
            ...(audit === undefined
              ? {}
              : {
                  r3: {
                    s256: audit.r3S256,
                    granted: audit.r3Granted,
                    perCall: audit.r3PerCall,
                    proposal: audit.proposal,
                  },
                }),
          };
        }),
        ...person
          .filter((row) => !revoked.has(row.jti))
          .map((row) => ({
            kind: 'person' as const,
            jti: row.jti,
            agentIss: row.agentIss,
            agentSub: row.agentSub,
            resource: row.resource,
            scope: null,
            exp: row.exp,
          })),
      ];
      return tokens.sort((a, b) => a.exp.getTime() - b.exp.getTime());
    },
    async revokeResourceConsent(personId, key, at) {
      const { count } = await prisma.resourceConsent.updateMany({
        where: { personId, ...key, revokedAt: null },
        data: { revokedAt: at },
      });
      return count > 0;
    },
    async revokeScopeConsent(personId, id, at) {
      // A malformed id would make PostgreSQL reject the uuid cast: it names no consent.
      if (!UUID.test(id)) return false;
      const { count } = await prisma.scopeConsent.updateMany({
        where: { id, personId, revokedAt: null },
        data: { revokedAt: at },
      });
      return count > 0;
    },
  };
}
