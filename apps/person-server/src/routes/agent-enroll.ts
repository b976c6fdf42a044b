import { SignatureInvalidRequest } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PendingOwner } from '../services/pending-service.js';
import type { AppContext } from './context.js';
import { replyToCancel, replyToPoll } from './pending-reply.js';

/** Enrollment takes only `hwk`: the durable key presents itself (bootstrap draft, *Web App Enrollment* step 3). */
const ENROLL: RouteAAuthConfig = { schemes: ['hwk'], requireBodyComponents: true, stateChanging: true };
const POLL: RouteAAuthConfig = { schemes: ['hwk'] };
const CANCEL: RouteAAuthConfig = { schemes: ['hwk'], stateChanging: true };

function durableKeyOf(request: FastifyRequest) {
  const signer = request.aauth?.signer;
  if (signer?.scheme !== 'hwk') throw new SignatureInvalidRequest('The request must be signed with hwk.');
  return { thumbprint: signer.thumbprint, jwk: signer.jwk };
}

function ownerOf(request: FastifyRequest): PendingOwner {
  return { agentIss: null, agentSub: null, durableJkt: durableKeyOf(request).thumbprint };
}

/**
 * `POST /agent/enroll` (`enrollment_endpoint`, an extension member of aauth-agent.json) and its
 * pending URL `GET|DELETE /agent/enroll/pending/:id`, polled by the same durable key. Approval
 * answers `{status: "approved", agent}` and no token: tokens come from `agent_token_endpoint`.
 */
export function registerAgentEnrollRoutes(app: FastifyInstance, context: AppContext): void {
  app.post('/agent/enroll', { config: { aauth: ENROLL } }, async (request, reply) => {
    const outcome = await context.enrollments.requestEnrollment(durableKeyOf(request), request.body);
    if (outcome.kind === 'approved') {
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .send({ status: 'approved', agent: outcome.agent });
    }
    const { created } = outcome;
    request.log.info({ event: 'enrollment.requested' }, 'enrollment pending');
    return replyPending(reply, {
      location: `/agent/enroll/pending/${created.record.id}`,
      retryAfter: created.record.retryAfter,
      ...(created.requirement ? { requirement: created.requirement } : {}),
      body: { status: 'pending' },
    });
  });
  app.get<{ Params: { id: string } }>(
    '/agent/enroll/pending/:id',
    { config: { aauth: POLL } },
    (request, reply) => replyToPoll(request, reply, context.pending, request.params.id, ownerOf(request)),
  );
  app.delete<{ Params: { id: string } }>(
    '/agent/enroll/pending/:id',
    { config: { aauth: CANCEL } },
    (request, reply) => replyToCancel(reply, context.pending, request.params.id, ownerOf(request)),
  );
}
