import { Prisma } from '../generated/prisma/client.js';
import type { TokenFacts, TokenFactsLookup, TokenRef } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';
import { toResourcePolicy } from './prisma-policies.js';

interface FactsRow {
  resource: string | null;
  fallback: string | null;
  rules: unknown;
  r3: unknown;
  ps_trusted: boolean;
  bound: boolean;
  billing: boolean;
  agent_revoked: boolean;
  subagent_revoked: boolean;
}

/** Whether `(iss, jti)` is revoked, by the `revocation` key; no token reads as not revoked. */
function revoked(token: TokenRef | undefined): Prisma.Sql {
  return token === undefined
    ? Prisma.sql`FALSE`
    : Prisma.sql`EXISTS (SELECT 1 FROM "revocation" WHERE "iss" = ${token.iss} AND "jti" = ${token.jti})`;
}

/**
 * The reads of a token request in one statement (docs/benchmarks.md, *Auth server issuance*): the
 * resource's policy, whether the PS is on the trust list, bound for `sub` (an active binding), or
 * billed, and whether the agent and sub-agent tokens are revoked. Each part reads what the separate
 * Prisma lookups read, through the same keys and indexes; the statement always yields one row. Raw SQL
 * because Prisma's client-side cost per query was the largest share of an issuance.
 */
export function createPrismaTokenFactsLookup(prisma: PrismaClient): TokenFactsLookup {
  return {
    async findTokenFacts({ resource, ps, sub, agent, subagent }) {
      const rows = await prisma.$queryRaw<FactsRow[]>`
        SELECT
          p."resource", p."fallback", p."rules", p."r3",
          EXISTS (SELECT 1 FROM "trusted_person_server" t WHERE t."issuer" = ${ps}) AS "ps_trusted",
          EXISTS (
            SELECT 1 FROM "ps_binding" b WHERE b."ps" = ${ps} AND b."sub" = ${sub} AND b."revoked_at" IS NULL
          ) AS "bound",
          EXISTS (SELECT 1 FROM "billing_relationship" r WHERE r."ps" = ${ps}) AS "billing",
          ${revoked(agent)} AS "agent_revoked",
          ${revoked(subagent)} AS "subagent_revoked"
        FROM (SELECT 1) AS one
        LEFT JOIN "resource_policy" p ON p."resource" = ${resource}`;
      const row = rows[0];
      if (row === undefined) throw new Error('the token facts query returned no row');
      return toFacts(row);
    },
  };
}

function toFacts(row: FactsRow): TokenFacts {
  return {
    policy:
      row.resource === null
        ? undefined
        : toResourcePolicy({ resource: row.resource, fallback: row.fallback!, rules: row.rules, r3: row.r3 }),
    psTrusted: row.ps_trusted,
    bound: row.bound,
    billing: row.billing,
    agentRevoked: row.agent_revoked,
    subagentRevoked: row.subagent_revoked,
  };
}
