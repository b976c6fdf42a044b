import {
  type AAuthRequestContext,
  pendingLocation,
  type RouteAAuthConfig,
  replyPending,
} from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { isFederatedRecord } from '../services/federation-relay.js';
import type { PendingOwner } from '../services/pending-service.js';
import type { AppContext } from './context.js';
import { replyRelayed, replyToCancel, replyToPoll } from './pending-reply.js';

/**
 * Agents poll with the agent token that made the request (§Pending URL Security: identity on every
 * poll); a sub-agent never made one and is refused like at every PS endpoint (§Single-Level Depth).
 */
const POLL: RouteAAuthConfig = { schemes: ['jwt'], tokenKinds: ['agent'], rejectSubAgents: true };
const CANCEL: RouteAAuthConfig = {
  schemes: ['jwt'],
  tokenKinds: ['agent'],
  rejectSubAgents: true,
  stateChanging: true,
};
/** §Clarification Response: the body is covered by the signature (`content-digest`). */
const RESPOND: RouteAAuthConfig = {
  schemes: ['jwt'],
  tokenKinds: ['agent'],
  rejectSubAgents: true,
  requireBodyComponents: true,
  stateChanging: true,
};

function ownerOf(aauth: AAuthRequestContext | null): PendingOwner {
  const claims = aauth?.claims;
  return { agentIss: claims?.iss ?? null, agentSub: claims?.sub ?? null, durableJkt: null };
}

/**
 * `GET|POST|DELETE /pending/:id`: the pending URLs of the PS token endpoints (§Deferred Responses).
 * `POST` carries the agent's answer to a clarification (§Agent Response to Clarification); after it
 * the agent resumes polling, so the answer is another `202` for the same pending URL (§Deferred
 * Response State Machine: anything else would end the agent's polling).
 */
export function registerPendingRoutes(app: FastifyInstance, context: AppContext): void {
  const relay = context.authTokens.federation;
  app.get<{ Params: { id: string } }>('/pending/:id', { config: { aauth: POLL } }, (request, reply) =>
    replyToPoll(request, reply, context.pending, request.params.id, ownerOf(request.aauth), relay),
  );
  app.post<{ Params: { id: string } }>(
    '/pending/:id',
    { config: { aauth: RESPOND } },
    async (request, reply) => {
      const record = await context.pending.loadForOwner(request.params.id, ownerOf(request.aauth));
      if (relay !== undefined && isFederatedRecord(record)) {
        // The AS's question, answered by the agent: forwarded to the AS's pending URL.
        const answer = await relay.respond(record, request.body);
        request.log.info({ event: 'clarification.forwarded' }, 'clarification answer forwarded');
        return replyRelayed(reply, pendingLocation(request), answer);
      }
      await context.clarifications.respond(record, request.body);
      request.log.info({ event: 'clarification.answered' }, 'clarification answered');
      return replyPending(reply, {
        location: pendingLocation(request),
        retryAfter: context.pending.retryAfterSeconds,
        body: { status: 'interacting' },
      });
    },
  );
  app.delete<{ Params: { id: string } }>('/pending/:id', { config: { aauth: CANCEL } }, (request, reply) =>
    replyToCancel(reply, context.pending, request.params.id, ownerOf(request.aauth), relay),
  );
}
