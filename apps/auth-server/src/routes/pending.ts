import { replyDeferredResult } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { PENDING_PREFIX } from '../metadata.js';
import { type AppContext, callingPersonServer, PS_READ, PS_WRITE } from './context.js';
import { replyWaiting } from './token.js';

/**
 * `GET|POST|DELETE /token/pending/:id`: the pending URLs of the token endpoint (§Deferred Responses).
 * Only the PS that made the request may use one; another PS gets `404`, as for an unknown URL.
 * `POST` carries the claims of §Claims Required (no `action`) or a `clarification_response`; the
 * answer is `202` at the same URL and the next `GET` delivers the outcome (docs/spec-decisions.md,
 * *Auth server*).
 */
export function registerPendingRoutes(app: FastifyInstance, context: AppContext): void {
  const path = `${PENDING_PREFIX}/:id`;
  app.get<{ Params: { id: string } }>(path, { config: { aauth: PS_READ } }, async (request, reply) => {
    const answer = await context.tokens.poll(request.params.id, callingPersonServer(request));
    if (answer.kind === 'pending') return replyWaiting(reply, answer.answer);
    return replyDeferredResult(reply, answer.result);
  });
  app.post<{ Params: { id: string } }>(path, { config: { aauth: PS_WRITE } }, async (request, reply) => {
    const ps = callingPersonServer(request);
    const answer = await context.tokens.submit(request.params.id, ps, request.body);
    request.log.info({ event: 'pending.answered', ps }, 'pending request answered');
    return replyWaiting(reply, answer);
  });
  app.delete<{ Params: { id: string } }>(path, { config: { aauth: PS_WRITE } }, async (request, reply) => {
    await context.tokens.cancel(request.params.id, callingPersonServer(request));
    return reply.code(204).header('cache-control', 'no-store').send();
  });
}
