import { Prisma } from '../generated/prisma/client.js';
import type {
  PolicyDocument,
  PolicyFallback,
  PolicyRule,
  R3Policy,
  ResourcePolicy,
} from '../services/policy.js';
import type { PrismaClient } from './prisma.js';

/** A `resource_policy` row (read by the token facts' one statement, `prisma-token-facts.ts`). */
export interface ResourcePolicyRow {
  readonly resource: string;
  readonly fallback: string;
  readonly rules: unknown;
  readonly r3: unknown;
}

export function toResourcePolicy(row: ResourcePolicyRow): ResourcePolicy {
  return {
    resource: row.resource,
    fallback: row.fallback as PolicyFallback,
    rules: row.rules as PolicyRule[],
    ...(row.r3 === null ? {} : { r3: row.r3 as R3Policy }),
  };
}

/**
 * Loads a validated policy document (`POLICY_FILE`): its trust list replaces the stored one when it
 * has one, and each resource it names replaces that resource's stored policy. One transaction.
 */
export async function storePolicyDocument(prisma: PrismaClient, document: PolicyDocument): Promise<void> {
  await prisma.$transaction(async (tx) => {
    if (document.trusted_person_servers) {
      await tx.trustedPersonServer.deleteMany({});
      await tx.trustedPersonServer.createMany({
        data: document.trusted_person_servers.map((issuer) => ({ issuer })),
        skipDuplicates: true,
      });
    }
    for (const [resource, policy] of Object.entries(document.resources)) {
      const data = {
        fallback: policy.fallback ?? 'omit',
        rules: policy.rules as unknown as Prisma.InputJsonValue,
        r3: policy.r3 === undefined ? Prisma.DbNull : (policy.r3 as unknown as Prisma.InputJsonValue),
      };
      await tx.resourcePolicy.upsert({ where: { resource }, create: { resource, ...data }, update: data });
    }
  });
}
