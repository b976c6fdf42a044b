import { NotFound } from '@aauth-ref/core';
import type { AAuthRequestContext, RouteAAuthConfig } from '@aauth-ref/fastify';
import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { InteractionRelayService } from '../services/interaction-relay-service.js';
import type { PendingOwner, PendingService } from '../services/pending-service.js';
import { replyToCancel, replyToPoll } from './pending-reply.js';
import { requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/** The agent's path of `interaction_endpoint`; `/interaction` is the person's interaction page. */
export const INTERACTION_ENDPOINT_PATH = '/agent-interaction';
/** Pending URLs of relayed interactions: polls here apply `max_wait` (§Interaction Response). */
export const RELAY_PENDING_PATH = `${INTERACTION_ENDPOINT_PATH}/pending`;

const POLL: RouteAAuthConfig = { schemes: ['jwt'], tokenKinds: ['agent'], rejectSubAgents: true };
const CANCEL: RouteAAuthConfig = { ...POLL, stateChanging: true };

function ownerOf(aauth: AAuthRequestContext | null): PendingOwner {
  const claims = aauth?.claims;
  return { agentIss: claims?.iss ?? null, agentSub: claims?.sub ?? null, durableJkt: null };
}

/**
 * `POST /agent-interaction` (`interaction_endpoint`, §Interaction Endpoint): `interaction` / `payment`
 * relays and `question`s, answered with a deferred response. A relay is polled at
 * `/agent-interaction/pending/{id}` (the relay's own pending URL, so `max_wait` is applied), a question
 * at `/pending/{id}` like every other PS request. Only the requesting agent may poll (404 otherwise).
 */
export function registerInteractionEndpointRoutes(
  app: FastifyInstance,
  relays: InteractionRelayService,
  pending: PendingService,
): void {
  app.post(INTERACTION_ENDPOINT_PATH, { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const deferred = await relays.request(requestingAgentOf(request), request.body);
    request.log.info(
      { event: deferred.kind === 'question' ? 'interaction.question_asked' : 'interaction.relayed' },
      'interaction request deferred',
    );
    return replyPending(reply, {
      location:
        deferred.kind === 'interaction_relay'
          ? `${RELAY_PENDING_PATH}/${deferred.id}`
          : `/pending/${deferred.id}`,
      retryAfter: deferred.retryAfter,
      requirement: deferred.requirement,
      body: { status: 'pending' },
    });
  });

  app.get<{ Params: { id: string } }>(
    `${RELAY_PENDING_PATH}/:id`,
    { config: { aauth: POLL } },
    async (request, reply) => {
      const owner = ownerOf(request.aauth);
      const record = await pending.loadForOwner(request.params.id, owner);
      if (record.kind !== 'interaction_relay') throw new NotFound('No such pending request.');
      await relays.settleRelay(record);
      return replyToPoll(request, reply, pending, request.params.id, owner);
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${RELAY_PENDING_PATH}/:id`,
    { config: { aauth: CANCEL } },
    async (request, reply) => {
      const owner = ownerOf(request.aauth);
      const record = await pending.loadForOwner(request.params.id, owner);
      if (record.kind !== 'interaction_relay') throw new NotFound('No such pending request.');
      return replyToCancel(reply, pending, request.params.id, owner);
    },
  );
}
