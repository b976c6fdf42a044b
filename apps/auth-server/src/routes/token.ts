import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { PENDING_PREFIX, TOKEN_PATH } from '../metadata.js';
import type { PendingAnswer } from '../services/token-service.js';
import { type AppContext, callingPersonServer, PS_WRITE } from './context.js';

/** `202` at the pending URL; `requirement=claims` with `required_claims` while claims are awaited. */
export function replyWaiting(reply: FastifyReply, answer: PendingAnswer) {
  return replyPending(reply, {
    location: `${PENDING_PREFIX}/${answer.id}`,
    retryAfter: answer.retryAfter,
    ...(answer.requiredClaims ? { requirement: { requirement: 'claims' } } : {}),
    body: {
      status: answer.status,
      ...(answer.requiredClaims ? { required_claims: [...answer.requiredClaims] } : {}),
    },
  });
}

/** `POST /token` (`auth_token_endpoint`, §AS Token Endpoint): Person Servers only. */
export function registerTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post(TOKEN_PATH, { config: { aauth: PS_WRITE } }, async (request, reply) => {
    const ps = callingPersonServer(request);
    const outcome = await context.tokens.requestToken(ps, request.body);
    if (outcome.kind === 'pending') {
      request.log.info({ event: 'token.pending', ps, requirement: 'claims' }, 'token request deferred');
      return replyWaiting(reply, outcome.answer);
    }
    request.log.info({ event: 'token.issued', kind: 'auth', ps }, 'auth token issued');
    return reply.code(200).header('cache-control', 'no-store').send(outcome.response);
  });
}
