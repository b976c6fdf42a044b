import { Prisma } from '../generated/prisma/client.js';
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
          // A nested create is one transaction: no R3 token is recorded without its audit entry.
          ...(token.r3 === undefined
            ? {}
            : {
                r3Audit: {
                  create: {
                    r3Uri: token.r3.r3Uri,
                    r3S256: token.r3.r3S256,
                    ps: token.ps,
                    sub: token.sub,
                    agentJkt: token.r3.agentJkt,
                    agentIss: token.agentIss,
                    agentSub: token.agentSub,
                    subagentSub: token.subagentSub ?? null,
                    r3Granted: token.r3.r3Granted as Prisma.InputJsonValue,
                    r3PerCall:
                      token.r3.r3PerCall === null
                        ? Prisma.DbNull
                        : (token.r3.r3PerCall as Prisma.InputJsonValue),
                    proposal: token.r3.proposal,
                    issuedAt: token.issuedAt,
                  },
                },
              }),
        },
      });
    },
  };
}
