import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { replyNeedsConsent, requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/** `POST /person` (`person_token_endpoint`, §Person Token Endpoint). */
export function registerPersonTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post('/person', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const agent = requestingAgentOf(request);
    const outcome = await context.personTokens.requestPersonToken(agent, request.body);
    if (outcome.kind === 'needs_consent') {
      return replyNeedsConsent(context, reply, agent, 'person_token', outcome.plan, outcome.capabilities);
    }
    request.log.info({ event: 'token.issued', kind: 'person' }, 'person token issued');
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .send({ person_token: outcome.personToken, expires_in: outcome.expiresIn });
  });
}
