import { SignatureInvalidRequest } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';

/**
 * `POST /agent/token` (`agent_token_endpoint`): the two-key refresh (bootstrap draft, *Two-Key
 * Refresh*). Only `jkt-jwt`: the enrolled durable key names a fresh ephemeral key, which signs the
 * request and becomes the agent token's `cnf`.
 */
const AGENT_TOKEN: RouteAAuthConfig = {
  schemes: ['jkt-jwt'],
  requireBodyComponents: true,
  stateChanging: true,
};

export function registerAgentTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post('/agent/token', { config: { aauth: AGENT_TOKEN } }, async (request, reply) => {
    const signer = request.aauth?.signer;
    if (signer?.scheme !== 'jkt-jwt')
      throw new SignatureInvalidRequest('The request must be signed with jkt-jwt.');
    const response = await context.enrollments.issueAgentToken(signer.durableThumbprint, signer.newKey.jwk);
    request.log.info({ event: 'token.issued', kind: 'agent' }, 'agent token issued');
    return reply.code(200).header('cache-control', 'no-store').send(response);
  });
}
