import type { PrismaClient } from '../stores/prisma.js';

/**
 * Read-only queries of the operator CLI that no server store answers: every person, every live
 * token across persons, and the writes a password reset makes. Never selects a password hash for
 * output.
 */

export interface PersonSummary {
  readonly username: string;
  readonly displayName: string;
  readonly email: string | null;
  readonly tenant: string | null;
  readonly createdAt: Date;
}

export interface LiveTokenRow {
  readonly kind: 'auth' | 'person';
  readonly jti: string;
  /** The token's `iss`: this PS, or the AS of a four-party auth token. */
  readonly iss: string;
  readonly person: string;
  readonly agentIss: string;
  readonly agentSub: string;
  readonly resource: string;
  readonly scope: string | null;
  readonly exp: Date;
}

export const LIST_LIMIT = 500;

export async function listPersons(prisma: PrismaClient): Promise<PersonSummary[]> {
  return prisma.person.findMany({
    select: { username: true, displayName: true, email: true, tenant: true, createdAt: true },
    orderBy: { username: 'asc' },
    take: LIST_LIMIT,
  });
}

/**
 * Person and auth tokens not yet expired nor revoked (the dashboard's rule), of one person or of
 * everyone, soonest expiry first.
 */
export async function listLiveTokens(
  prisma: PrismaClient,
  issuer: string,
  now: Date,
  personId?: string,
): Promise<LiveTokenRow[]> {
  const owner = personId === undefined ? {} : { personId };
  const person = { select: { username: true } } as const;
  const [auth, personTokens] = await Promise.all([
    prisma.issuedAuthToken.findMany({
      where: { ...owner, revokedAt: null, exp: { gt: now } },
      select: {
        jti: true,
        iss: true,
        agentIss: true,
        agentSub: true,
        aud: true,
        scope: true,
        exp: true,
        person,
      },
      orderBy: { exp: 'asc' },
      take: LIST_LIMIT,
    }),
    prisma.personTokenRecord.findMany({
      where: { ...owner, exp: { gt: now } },
      select: { jti: true, agentIss: true, agentSub: true, resource: true, exp: true, person },
      orderBy: { exp: 'asc' },
      take: LIST_LIMIT,
    }),
  ]);
  const revoked =
    personTokens.length === 0
      ? new Set<string>()
      : new Set(
          (
            await prisma.revocation.findMany({
              where: { iss: issuer, jti: { in: personTokens.map((row) => row.jti) } },
              select: { jti: true },
            })
          ).map((row) => row.jti),
        );
  const rows: LiveTokenRow[] = [
    ...auth.map((row) => ({
      kind: 'auth' as const,
      jti: row.jti,
      iss: row.iss,
      person: row.person.username,
      agentIss: row.agentIss,
      agentSub: row.agentSub,
      resource: row.aud,
      scope: row.scope,
      exp: row.exp,
    })),
    ...personTokens
      .filter((row) => !revoked.has(row.jti))
      .map((row) => ({
        kind: 'person' as const,
        jti: row.jti,
        iss: issuer,
        person: row.person.username,
        agentIss: row.agentIss,
        agentSub: row.agentSub,
        resource: row.resource,
        scope: null,
        exp: row.exp,
      })),
  ];
  return rows.sort((a, b) => a.exp.getTime() - b.exp.getTime());
}

/** The owner of an issued auth or person token, by `jti`. */
export async function findTokenOwner(
  prisma: PrismaClient,
  jti: string,
): Promise<{ kind: 'auth' | 'person'; personId: string } | undefined> {
  const auth = await prisma.issuedAuthToken.findUnique({ where: { jti }, select: { personId: true } });
  if (auth) return { kind: 'auth', personId: auth.personId };
  const person = await prisma.personTokenRecord.findUnique({ where: { jti }, select: { personId: true } });
  return person ? { kind: 'person', personId: person.personId } : undefined;
}

/**
 * Replaces the person's password hash and ends their browser sessions (a reset must lock out whoever
 * knew the old password). Returns how many sessions ended.
 */
export async function replacePassword(
  prisma: PrismaClient,
  personId: string,
  passwordHash: string,
): Promise<number> {
  return prisma.$transaction(async (tx) => {
    await tx.person.update({ where: { id: personId }, data: { passwordHash } });
    const { count } = await tx.webSession.deleteMany({ where: { personId } });
    return count;
  });
}
