import { InvalidAgentToken } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';

/**
 * `POST /agent/subagent-token` (`subagent_token_endpoint`): the parent presents its own agent token
 * (`jwt`); a parent that is itself a sub-agent is refused by the hook (§Single-Level Depth).
 */
const SUBAGENT_TOKEN: RouteAAuthConfig = {
  schemes: ['jwt'],
  tokenKinds: ['agent'],
  requireBodyComponents: true,
  stateChanging: true,
  rejectSubAgents: true,
};

export function registerSubagentTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post('/agent/subagent-token', { config: { aauth: SUBAGENT_TOKEN } }, async (request, reply) => {
    const token = request.aauth?.token;
    if (token?.kind !== 'agent') throw new InvalidAgentToken('An agent token must sign this request.');
    const response = await context.enrollments.issueSubagentToken(
      token.claims as import('@aauth-ref/core').AgentTokenClaims,
      request.body,
    );
    request.log.info({ event: 'token.issued', kind: 'subagent' }, 'sub-agent token issued');
    return reply.code(200).header('cache-control', 'no-store').send(response);
  });
}
