import { InvalidRequest, isMissionS256 } from '@aauth-ref/core';
import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { parseMissionAction } from '../services/mission-service.js';
import type { AppContext } from './context.js';
import { replyNeedsConsent, requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/**
 * The agent's mission surface (§Mission): `POST /mission` (`mission_endpoint`) proposes a mission,
 * `POST /mission/{s256}` records an update or proposes completion. Signed with the agent token, body
 * covered, sub-agents refused — the token endpoints' profile.
 */
export function registerMissionRoutes(app: FastifyInstance, context: AppContext): void {
  app.post('/mission', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const agent = requestingAgentOf(request);
    const plan = await context.missions.propose(agent, request.body);
    request.log.info({ event: 'mission.proposed' }, 'mission proposed');
    // The person always reviews a proposal: a 202 the agent brings them to, else user_unreachable.
    return replyNeedsConsent(context, reply, agent, 'mission', plan, plan.proposal.capabilities ?? []);
  });

  app.post<{ Params: { s256: string } }>(
    '/mission/:s256',
    { config: { aauth: TOKEN_REQUEST } },
    async (request, reply) => {
      const agent = requestingAgentOf(request);
      // §Mission Endpoint Errors: a malformed path segment or action is 400 before any lookup.
      if (!isMissionS256(request.params.s256)) {
        throw new InvalidRequest('The mission path segment is not a SHA-256 base64url digest.');
      }
      const { action, members } = parseMissionAction(request.body);
      if (action === 'update') {
        const accepted = await context.missions.update(agent, request.params.s256, members.description);
        request.log.info({ event: 'mission.updated' }, 'mission update accepted');
        return reply.code(200).header('cache-control', 'no-store').send(accepted);
      }
      const { plan, mission } = await context.missions.proposeCompletion(
        agent,
        request.params.s256,
        members.summary,
      );
      // The person reviews the summary on this PS's pages (the missions list shows it to them), so no
      // interaction code is needed: the request is bound to the mission's person from the start.
      const created = await context.pending.create({
        kind: 'mission_completion',
        owner: { agentIss: agent.claims.iss, agentSub: agent.claims.sub, durableJkt: null },
        request: { plan, capabilities: mission.capabilities ?? [] },
        interaction: false,
      });
      await context.pending.store.consumeCode(
        created.record.id,
        mission.personId,
        new Date(context.clock.now()),
        null,
      );
      request.log.info({ event: 'mission.completion_proposed' }, 'mission completion proposed');
      return replyPending(reply, {
        location: `/pending/${created.record.id}`,
        retryAfter: created.record.retryAfter,
        body: { status: 'pending' },
      });
    },
  );
}
