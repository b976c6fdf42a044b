import { type AAuthError, InvalidRequest, isMissionS256 } from '@aauth-ref/core';
import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MissionFailureThrottle } from '../services/mission-failure-throttle.js';
import { parseMissionAction } from '../services/mission-service.js';
import type { MissionRecord } from '../services/ports.js';
import { agentRefOf, type RequestingAgent } from '../services/resource-token-check.js';
import type { AppContext } from './context.js';
import { replyNeedsConsent, requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/**
 * The agent's mission surface (§Mission): `POST /mission` (`mission_endpoint`) proposes a mission,
 * `POST /mission/{s256}` records an update or proposes completion. Signed with the agent token, body
 * covered, sub-agents refused — the token endpoints' profile.
 */
export interface MissionRouteOptions {
  /** §Mission Endpoint Errors: repeated failures at a mission's own URL are rate-limited and logged. */
  readonly failures: MissionFailureThrottle;
}

export function registerMissionRoutes(
  app: FastifyInstance,
  context: AppContext,
  options: MissionRouteOptions,
): void {
  const { failures } = options;

  /** Counts a failure of an authenticated agent (signature failures never reach here with one). */
  async function countFailure(request: FastifyRequest, error: unknown): Promise<void> {
    if (!failures.counts(error) || request.aauth?.tokenKind !== 'agent') return;
    const agent = agentRefOf(requestingAgentOf(request));
    const { status, error: code } = error as AAuthError;
    await failures.recordFailure(agent, { status, error: code });
    request.log.warn({ event: 'mission.request_failed', status, error: code }, 'mission request failed');
  }

  app.post('/mission', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const agent = requestingAgentOf(request);
    const plan = await context.missions.propose(agent, request.body);
    request.log.info({ event: 'mission.proposed' }, 'mission proposed');
    // The person always reviews a proposal: a 202 the agent brings them to, else user_unreachable.
    return replyNeedsConsent(context, reply, agent, 'mission', plan, plan.proposal.capabilities ?? []);
  });

  app.post<{ Params: { s256: string } }>(
    '/mission/:s256',
    {
      config: { aauth: TOKEN_REQUEST },
      onError: async (request, _reply, error) => countFailure(request, error),
    },
    async (request, reply) => {
      const agent = requestingAgentOf(request);
      // An agent over its failure limit learns nothing more, not even whether its request is well formed.
      try {
        await failures.assertAllowed(agentRefOf(agent));
      } catch (error) {
        request.log.warn({ event: 'mission.request_throttled' }, 'mission request throttled');
        throw error;
      }
      // §Mission Endpoint Errors: a malformed path segment or action is 400 before any lookup.
      if (!isMissionS256(request.params.s256)) {
        throw new InvalidRequest('The mission path segment is not a SHA-256 base64url digest.');
      }
      const { action, members } = parseMissionAction(request.body);
      if (action === 'update') {
        const outcome = await context.missions.update(agent, request.params.s256, members.description);
        if ('accepted' in outcome) {
          request.log.info({ event: 'mission.updated' }, 'mission update accepted');
          return reply.code(200).header('cache-control', 'no-store').send(outcome.accepted);
        }
        // §Mission Update: "return a 202 Accepted deferred response while the person reviews it".
        request.log.info({ event: 'mission.update_review' }, 'mission update left to the person');
        return replyPersonReview(reply, agent, 'mission_update', outcome.review, outcome.mission);
      }
      const { plan, mission } = await context.missions.proposeCompletion(
        agent,
        request.params.s256,
        members.summary,
      );
      request.log.info({ event: 'mission.completion_proposed' }, 'mission completion proposed');
      return replyPersonReview(reply, agent, 'mission_completion', plan, mission);
    },
  );

  /**
   * The person reviews on this PS's pages (the missions list shows it to them under *Waiting for
   * you*), so no interaction code is needed: the request is bound to the mission's person from the
   * start, and the agent polls.
   */
  async function replyPersonReview(
    reply: FastifyReply,
    agent: RequestingAgent,
    kind: 'mission_completion' | 'mission_update',
    plan: unknown,
    mission: MissionRecord,
  ) {
    const created = await context.pending.create({
      kind,
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
    return replyPending(reply, {
      location: `/pending/${created.record.id}`,
      retryAfter: created.record.retryAfter,
      body: { status: 'pending' },
    });
  }
}
