import type { IssuedAuthTokenStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/** `issued_auth_token`: every auth token this AS issued. */
export function createPrismaIssuedAuthTokenStore(prisma: PrismaClient): IssuedAuthTokenStore {
  return {
    async record(token) {
      await prisma.issuedAuthToken.create({
        data: {
          jti: token.jti,
          aud: token.aud,
          ps: token.ps,
          sub: token.sub,
          scope: token.scope ?? null,
          account: token.account ?? null,
          missionS256: token.mission_s256 ?? null,
          tenant: token.tenant ?? null,
          agentIss: token.agentIss,
          agentSub: token.agentSub,
          subagentSub: token.subagentSub ?? null,
          cnfJkt: token.cnfJkt,
          resourceTokenJti: token.resourceTokenJti,
          issuedAt: token.issuedAt,
          exp: token.exp,
        },
      });
    },
  };
}
