import { type RouteAAuthConfig, replyRequirement } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';

/**
 * `GET /api/agent/whoami` — agent identity access (§Agent Identity Access): serves on a verified agent
 * token alone and says who the agent is. Anything else — unsigned, or a person or auth token, which
 * carry no agent identifier — is answered `401 requirement=agent-token` (§Agent Token Required).
 */
const WHOAMI: RouteAAuthConfig = { allowUnsigned: true };

export function registerAgentWhoamiRoute(app: FastifyInstance, _context: AppContext): void {
  app.get('/api/agent/whoami', { config: { aauth: WHOAMI } }, async (request, reply) => {
    const token = request.aauth?.token;
    if (token?.kind !== 'agent') return replyRequirement(reply, { requirement: 'agent-token' });
    const claims = token.claims as { iss: string; sub: string; ps?: string; parent_agent?: string };
    return reply.header('cache-control', 'no-store').send({
      agent: claims.sub,
      agent_provider: claims.iss,
      ...(claims.ps === undefined ? {} : { ps: claims.ps }),
      ...(claims.parent_agent === undefined ? {} : { parent_agent: claims.parent_agent }),
      key_thumbprint: request.aauth?.keyThumbprint,
    });
  });
}
