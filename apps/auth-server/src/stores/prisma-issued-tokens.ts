import { Prisma } from '../generated/prisma/client.js';
import type { IssuedAuthTokenRecord, IssuedAuthTokenStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/** JSON for a `jsonb` parameter; `null` is SQL NULL (what `Prisma.DbNull` wrote). */
const jsonb = (value: unknown) => (value === null ? null : JSON.stringify(value));

function insertToken(token: IssuedAuthTokenRecord): Prisma.Sql {
  return Prisma.sql`
    INSERT INTO "issued_auth_token" (
      "jti", "aud", "ps", "sub", "scope", "account", "mission_s256", "tenant", "agent_iss", "agent_sub",
      "subagent_sub", "cnf_jkt", "resource_token_jti", "issued_at", "exp"
    ) VALUES (
      ${token.jti}, ${token.aud}, ${token.ps}, ${token.sub}, ${token.scope ?? null}, ${token.account ?? null},
      ${token.mission_s256 ?? null}, ${token.tenant ?? null}, ${token.agentIss}, ${token.agentSub},
      ${token.subagentSub ?? null}, ${token.cnfJkt}, ${token.resourceTokenJti}, ${token.issuedAt}, ${token.exp}
    )`;
}

/**
 * `issued_auth_token`: every auth token this AS issued, one plain `INSERT` (Prisma's `create` reads the
 * row back). An R3 token's audit entry is written by the same statement, so no R3 token is recorded
 * without it (R3 §Audit Log Integrity) and the pair costs one round trip, not a transaction's four.
 */
export function createPrismaIssuedAuthTokenStore(prisma: PrismaClient): IssuedAuthTokenStore {
  return {
    async record(token) {
      if (token.r3 === undefined) {
        await prisma.$executeRaw(insertToken(token));
        return;
      }
      const r3 = token.r3;
      await prisma.$executeRaw`
        WITH token AS (${insertToken(token)} RETURNING "jti")
        INSERT INTO "r3_audit_record" (
          "jti", "r3_uri", "r3_s256", "ps", "sub", "agent_jkt", "agent_iss", "agent_sub", "subagent_sub",
          "r3_granted", "r3_per_call", "proposal", "issued_at"
        )
        SELECT
          token."jti", ${r3.r3Uri}, ${r3.r3S256}, ${token.ps}, ${token.sub}, ${r3.agentJkt}, ${token.agentIss},
          ${token.agentSub}, ${token.subagentSub ?? null}, ${jsonb(r3.r3Granted)}::jsonb,
          ${jsonb(r3.r3PerCall)}::jsonb, ${r3.proposal}, ${token.issuedAt}
        FROM token`;
    },
  };
}
