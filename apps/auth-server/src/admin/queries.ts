import type { PolicyDocument } from '../services/policy.js';
import type { PrismaClient } from '../stores/prisma.js';

/**
 * Queries of the operator CLI that no server store answers: the accounts, one active binding by
 * `(ps, sub)`, the stored policy as a document, and the writes a password reset makes. Never selects
 * a password hash for output.
 */

export interface AccountSummary {
  readonly username: string;
  readonly displayName: string;
  readonly isAdmin: boolean;
  readonly createdAt: Date;
}

export const LIST_LIMIT = 500;

export async function listAccounts(prisma: PrismaClient): Promise<AccountSummary[]> {
  return prisma.asPerson.findMany({
    select: { username: true, displayName: true, isAdmin: true, createdAt: true },
    orderBy: { username: 'asc' },
    take: LIST_LIMIT,
  });
}

/** The id of the active binding of `(ps, sub)` (at most one is active). */
export async function findActiveBindingId(
  prisma: PrismaClient,
  ps: string,
  sub: string,
): Promise<string | undefined> {
  const row = await prisma.psBinding.findFirst({
    where: { ps, sub, revokedAt: null },
    select: { id: true },
  });
  return row?.id;
}

/**
 * The stored trust list and resource policies as one policy document (the `POLICY_FILE` format), so
 * `policy show > file` then `policy load file` stores the same thing again.
 */
export async function readPolicyDocument(prisma: PrismaClient): Promise<PolicyDocument> {
  const [trusted, policies] = await Promise.all([
    prisma.trustedPersonServer.findMany({ select: { issuer: true }, orderBy: { issuer: 'asc' } }),
    prisma.resourcePolicy.findMany({ orderBy: { resource: 'asc' } }),
  ]);
  const resources: Record<string, unknown> = {};
  for (const row of policies) {
    resources[row.resource] = {
      fallback: row.fallback,
      rules: row.rules,
      ...(row.r3 === null ? {} : { r3: row.r3 }),
    };
  }
  return {
    trusted_person_servers: trusted.map((row) => row.issuer),
    resources,
  } as PolicyDocument;
}

/** Replaces the account's password hash and ends its browser sessions; returns how many ended. */
export async function replacePassword(
  prisma: PrismaClient,
  personId: string,
  passwordHash: string,
): Promise<number> {
  return prisma.$transaction(async (tx) => {
    await tx.asPerson.update({ where: { id: personId }, data: { passwordHash } });
    const { count } = await tx.webSession.deleteMany({ where: { personId } });
    return count;
  });
}
