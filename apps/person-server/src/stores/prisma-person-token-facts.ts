import { Prisma } from '../generated/prisma/client.js';
import type { PersonTokenFacts, PersonTokenFactsLookup } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

interface FactsRow {
  person_id: string | null;
  username: string | null;
  display_name: string | null;
  email: string | null;
  tenant: string | null;
  person_known: boolean;
  sub: string | null;
  consented: boolean;
  issued_for_resource: boolean;
}

/**
 * The reads of a person token request in one statement (docs/benchmarks.md, *Person Server issuance*):
 * the agent's active binding (oldest first, as `findBoundPerson`) or the person the request names, that
 * person, their directed `sub` at the resource, an unrevoked resource consent, and whether this agent
 * was issued a person token for the resource before. Each part reads what the separate store methods
 * read, through the same indexes; the statement always yields one row. Raw SQL because Prisma's
 * client-side cost per query was the largest share of an issuance (about 30 % less per call than the
 * query builder, measured for the resource's notes read).
 */
export function createPrismaPersonTokenFactsLookup(prisma: PrismaClient): PersonTokenFactsLookup {
  return {
    async findPersonTokenFacts({ agent, resource, personId }) {
      const chosen =
        personId === undefined
          ? Prisma.sql`
              SELECT "person_id" FROM "agent_binding"
              WHERE "agent_iss" = ${agent.iss} AND "agent_sub" = ${agent.sub} AND "revoked_at" IS NULL
              ORDER BY "created_at" ASC
              LIMIT 1`
          : Prisma.sql`SELECT ${personId}::uuid AS "person_id"`;
      const rows = await prisma.$queryRaw<FactsRow[]>`
        SELECT
          b."person_id"::text AS "person_id",
          p."username", p."display_name", p."email", p."tenant",
          p."id" IS NOT NULL AS "person_known",
          ds."sub",
          EXISTS (
            SELECT 1 FROM "resource_consent" c
            WHERE c."person_id" = b."person_id" AND c."agent_iss" = ${agent.iss}
              AND c."agent_sub" = ${agent.sub} AND c."resource" = ${resource} AND c."revoked_at" IS NULL
          ) AS "consented",
          EXISTS (
            SELECT 1 FROM "person_token_record" r
            WHERE r."agent_iss" = ${agent.iss} AND r."agent_sub" = ${agent.sub} AND r."resource" = ${resource}
          ) AS "issued_for_resource"
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (${chosen}) AS b ON TRUE
        LEFT JOIN "person" p ON p."id" = b."person_id"
        LEFT JOIN "directed_subject" ds ON ds."person_id" = b."person_id" AND ds."resource" = ${resource}`;
      const row = rows[0];
      if (row === undefined) throw new Error('the person token facts query returned no row');
      return toFacts(row);
    },
  };
}

function toFacts(row: FactsRow): PersonTokenFacts {
  const facts: PersonTokenFacts = {
    consented: row.consented,
    issuedForResource: row.issued_for_resource,
  };
  if (row.person_id === null) return facts;
  return {
    ...facts,
    personId: row.person_id,
    ...(row.person_known
      ? {
          person: {
            id: row.person_id,
            username: row.username!,
            displayName: row.display_name!,
            email: row.email,
            tenant: row.tenant,
          },
        }
      : {}),
    ...(row.sub === null ? {} : { sub: row.sub }),
  };
}
