import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { replyRelayed } from './pending-reply.js';
import { replyNeedsConsent, requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/** `POST /token` (`auth_token_endpoint`, §PS Token Endpoint). */
export function registerAuthTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post('/token', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const agent = requestingAgentOf(request);
    const outcome = await context.authTokens.requestAuthToken(agent, request.body);
    if (outcome.kind === 'needs_consent') {
      return replyNeedsConsent(context, reply, agent, 'auth_token', outcome.plan, outcome.capabilities);
    }
    if (outcome.kind === 'federation_deferred') {
      // §AS Response: the AS's step is relayed at this PS's own pending URL.
      request.log.info({ event: 'federation.deferred' }, 'access server deferred the token request');
      return replyRelayed(reply, `/pending/${outcome.pendingId}`, outcome.answer);
    }
    request.log.info({ event: 'token.issued', kind: 'auth' }, 'auth token issued');
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .send({ auth_token: outcome.authToken, expires_in: outcome.expiresIn });
  });
}
