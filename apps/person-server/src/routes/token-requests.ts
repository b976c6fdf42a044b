import { type AgentTokenClaims, type Capability, InvalidAgentToken, UserUnreachable } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyPending } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PendingKind } from '../services/pending-service.js';
import type { RequestingAgent } from '../services/resource-token-check.js';
import type { AppContext } from './context.js';

/**
 * What `/person` and `/token` share: agents sign with their agent token (`jwt` only, so a durable
 * key is refused with `unsupported_scheme`); a sub-agent may not sign (§Single-Level Depth); a
 * needed consent becomes a pending request with `requirement=interaction` when the agent can bring
 * the person, else `403 user_unreachable` (§Token Endpoint Error Codes).
 */
export const TOKEN_REQUEST: RouteAAuthConfig = {
  schemes: ['jwt'],
  tokenKinds: ['agent'],
  requireBodyComponents: true,
  stateChanging: true,
  rejectSubAgents: true,
};

export function requestingAgentOf(request: FastifyRequest): RequestingAgent {
  const aauth = request.aauth;
  if (aauth?.tokenKind !== 'agent' || !aauth.claims) {
    throw new InvalidAgentToken('An agent token must sign this request.');
  }
  return {
    claims: aauth.claims as AgentTokenClaims,
    keyThumbprint: aauth.keyThumbprint,
    ...(aauth.token ? { raw: aauth.token.raw } : {}),
  };
}

export async function replyNeedsConsent(
  context: AppContext,
  reply: FastifyReply,
  agent: RequestingAgent,
  kind: Exclude<PendingKind, 'enrollment'>,
  plan: unknown,
  capabilities: readonly Capability[],
) {
  if (!capabilities.includes('interaction')) {
    throw new UserUnreachable(
      'The person must approve this request, and the agent did not declare the interaction capability.',
    );
  }
  const created = await context.pending.create({
    kind,
    owner: { agentIss: agent.claims.iss, agentSub: agent.claims.sub, durableJkt: null },
    // The capabilities decide later whether the person may ask questions (§Clarification Chat).
    request: { plan, capabilities },
    interaction: true,
  });
  return replyPending(reply, {
    location: `/pending/${created.record.id}`,
    retryAfter: created.record.retryAfter,
    ...(created.requirement ? { requirement: created.requirement } : {}),
    body: { status: 'pending' },
  });
}
