import type { AAuthRequestContext, RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { PendingOwner } from '../services/pending-service.js';
import type { AppContext } from './context.js';
import { replyToCancel, replyToPoll } from './pending-reply.js';

/** Agents poll with the agent token that made the request (§Pending URL Security: identity on every poll). */
const POLL: RouteAAuthConfig = { schemes: ['jwt'], tokenKinds: ['agent'] };
const CANCEL: RouteAAuthConfig = { schemes: ['jwt'], tokenKinds: ['agent'], stateChanging: true };

function ownerOf(aauth: AAuthRequestContext | null): PendingOwner {
  const claims = aauth?.claims;
  return { agentIss: claims?.iss ?? null, agentSub: claims?.sub ?? null, durableJkt: null };
}

/** `GET|DELETE /pending/:id`: the pending URLs of the PS token endpoints (§Deferred Responses). */
export function registerPendingRoutes(app: FastifyInstance, context: AppContext): void {
  app.get<{ Params: { id: string } }>('/pending/:id', { config: { aauth: POLL } }, (request, reply) =>
    replyToPoll(request, reply, context.pending, request.params.id, ownerOf(request.aauth)),
  );
  app.delete<{ Params: { id: string } }>('/pending/:id', { config: { aauth: CANCEL } }, (request, reply) =>
    replyToCancel(reply, context.pending, request.params.id, ownerOf(request.aauth)),
  );
}
