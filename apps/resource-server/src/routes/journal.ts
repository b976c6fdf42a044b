import { parseAAuthCapabilities, SignatureInvalidRequest, serializeAAuthAccess } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyPending, replyRequirement } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_NOTEBOOK, NOTES_READ } from '../scopes.js';
import { requireNotesRead } from '../services/r3-access.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';
import { readSessionCredential, sessionSignerOf } from './session-credential.js';

/**
 * `GET /api/journal` — resource-managed access (two-party, §Resource-Managed Authorization). An agent
 * that declared `interaction` in `AAuth-Capabilities` gets `202 requirement=interaction`: the person
 * signs in to this resource's own account and consents, and the poll delivers a session token in
 * `AAuth-Access`. Later calls present it as `Authorization: AAuth <token>` (covered by the signature)
 * and see that account's notes. Without `interaction` declared the resource does not send the
 * person anywhere (§AAuth-Capabilities Request Header): it falls back to three-party, answering with
 * the challenge an auth-token endpoint gives, and serves the auth token's person when one comes.
 */
const JOURNAL: RouteAAuthConfig = { allowUnsigned: true };

export function registerJournalRoute(app: FastifyInstance, context: AppContext): void {
  app.get('/api/journal', { config: { aauth: JOURNAL } }, async (request, reply) => {
    const presented = presentedOf(request);
    const credential = readSessionCredential(request);
    if (credential !== undefined) {
      // A session token is never a bearer token (§AAuth-Access Security).
      if (presented === null)
        throw new SignatureInvalidRequest('A session token must be sent on a signed request.');
      const session = await context.sessionTokens.authenticate(credential, sessionSignerOf(presented));
      if (session.rolled !== undefined) {
        reply.header('aauth-access', serializeAAuthAccess(session.rolled));
        request.log.info({ event: 'session_token.rolled' }, 'session token rolled');
      }
      const user = await context.users.find(session.grant.userId);
      const person = { iss: context.issuer, sub: session.grant.userId };
      const notes = await context.notes.list(person, DEFAULT_NOTEBOOK);
      return reply.header('cache-control', 'no-store').send({
        account: user?.username ?? null,
        via: 'session-token',
        scope: session.grant.scope,
        notes,
      });
    }
    if (presented === null) return replyRequirement(reply, { requirement: 'agent-token' });
    const capabilities = parseAAuthCapabilities(request.headers['aauth-capabilities']);
    if (presented.kind === 'agent' && capabilities.has('interaction')) {
      const { id, requirement } = await context.pending.createInteraction({
        ownerJkt: presented.keyThumbprint,
        // The agent's AP: its `callback_endpoint` is the only callback the interaction page accepts.
        agentIss: presented.claims.iss,
        scope: NOTES_READ,
      });
      request.log.info({ event: 'interaction.requested' }, 'resource-managed interaction requested');
      return replyPending(reply, {
        location: `/pending/${id}`,
        retryAfter: context.pending.retryAfterSeconds,
        requirement,
        body: { status: 'pending' },
      });
    }
    const decision = await requireNotesRead(context.access, context.r3, presented);
    if (!decision.granted) return replyChallenge(reply, decision);
    const notes = await context.notes.list(decision.person, decision.notebook);
    return reply
      .header('cache-control', 'no-store')
      .send({ account: null, via: 'auth-token', scope: decision.auth.scope ?? '', notes });
  });
}
