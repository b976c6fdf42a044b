import { serializeAAuthRequirement } from '@aauth-ref/core';
import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { PENDING_PREFIX, TOKEN_PATH } from '../metadata.js';
import type { PendingAnswer } from '../services/token-service.js';
import { type AppContext, callingPersonServer, PS_WRITE } from './context.js';

/**
 * The answer of a waiting request: `202` with `Location`, `Retry-After`, `Cache-Control: no-store` and
 * the step's `AAuth-Requirement`; for the billing step `402` with the same headers (§AS Response:
 * "MUST include a `Location` header"), `AAuth-Requirement` when binding is also required.
 */
export function replyWaiting(reply: FastifyReply, answer: PendingAnswer) {
  const options = {
    location: `${PENDING_PREFIX}/${answer.id}`,
    retryAfter: answer.retryAfter,
    ...(answer.requirement ? { requirement: answer.requirement } : {}),
    body: answer.body,
  };
  if (answer.httpStatus === 202) return replyPending(reply, options);
  const { issuer, identifierPolicy } = reply.server.aauthServer;
  reply
    .code(402)
    .header('location', new URL(options.location, issuer).href)
    .header('retry-after', String(answer.retryAfter))
    .header('cache-control', 'no-store');
  if (answer.requirement)
    reply.header('aauth-requirement', serializeAAuthRequirement(answer.requirement, identifierPolicy));
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(answer.body));
}

/** `POST /token` (`auth_token_endpoint`, §AS Token Endpoint): Person Servers only. */
export function registerTokenRoute(app: FastifyInstance, context: AppContext): void {
  app.post(TOKEN_PATH, { config: { aauth: PS_WRITE } }, async (request, reply) => {
    const ps = callingPersonServer(request);
    const outcome = await context.tokens.requestToken(ps, request.body);
    if (outcome.kind === 'pending') {
      request.log.info(
        { event: 'token.pending', ps, requirement: outcome.answer.requirement?.requirement ?? null },
        'token request deferred',
      );
      return replyWaiting(reply, outcome.answer);
    }
    request.log.info({ event: 'token.issued', kind: 'auth', ps }, 'auth token issued');
    return reply.code(200).header('cache-control', 'no-store').send(outcome.response);
  });
}
