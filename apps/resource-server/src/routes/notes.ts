import { type RouteAAuthConfig, replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { BODY_SIGNATURE_COMPONENTS } from '../metadata.js';
import { NOTES_READ, NOTES_WRITE } from '../scopes.js';
import { readIssuedResourceToken, runNoteDeletion, sha256Base64url } from '../services/held-invocations.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * The notes API — PS authorization access (§PS Authorization Access, three-party). Each call needs an
 * auth token for this resource with the route's scope; anything less is answered with the challenge
 * it earns (§Auth Token Required): a resource token when a person token was verified for this key,
 * `requirement=person-token` otherwise. Notes belong to `(ps, sub)` of the auth token and to the
 * notebook its `account` names.
 */
const READ: RouteAAuthConfig = { allowUnsigned: true };
/** State-changing: replay-checked, and the body bound to the signature (§Freshness and Replay). */
const WRITE: RouteAAuthConfig = {
  allowUnsigned: true,
  stateChanging: true,
  additionalComponents: BODY_SIGNATURE_COMPONENTS,
};

/** State-changing without a body: replay-checked; a body, if any, must be covered. */
const DELETE: RouteAAuthConfig = { allowUnsigned: true, stateChanging: true, requireBodyComponents: true };

export function registerNotesRoutes(app: FastifyInstance, context: AppContext): void {
  app.get('/api/notes', { config: { aauth: READ } }, async (request, reply) => {
    const decision = await context.access.requireAuthToken(presentedOf(request), [NOTES_READ]);
    if (!decision.granted) return replyChallenge(reply, decision);
    const notes = await context.notes.list(decision.person, decision.notebook);
    return reply.header('cache-control', 'no-store').send({ notebook: decision.notebook, notes });
  });

  app.post('/api/notes', { config: { aauth: WRITE } }, async (request, reply) => {
    const decision = await context.access.requireAuthToken(presentedOf(request), [NOTES_WRITE]);
    if (!decision.granted) return replyChallenge(reply, decision);
    const note = await context.notes.create(decision.person, decision.notebook, request.body);
    return reply.code(201).header('cache-control', 'no-store').send({ note });
  });

  /**
   * `DELETE /api/notes/:id` — deferred auth-token delivery (§Deferred Delivery). With a sufficient auth
   * token it runs at once; a request that earns `requirement=auth-token` is held instead: `202` with
   * the resource token and a pending URL bound to the resource token's `agent_jkt`, and the call runs
   * on the first poll that presents a sufficient auth token. Anything less gets its `401` challenge.
   */
  app.delete<{ Params: { id: string } }>(
    '/api/notes/:id',
    { config: { aauth: DELETE } },
    async (request, reply) => {
      const decision = await context.access.requireAuthToken(presentedOf(request), [NOTES_WRITE]);
      if (decision.granted) {
        const result = await runNoteDeletion(
          context.noteStore,
          decision.person,
          decision.notebook,
          request.params.id,
        );
        return reply
          .code(result.status)
          .header('cache-control', 'no-store')
          .type(result.status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8')
          .send(JSON.stringify(result.body));
      }
      const requirement = decision.requirement;
      if (requirement.requirement !== 'auth-token' || requirement['resource-token'] === undefined) {
        return replyChallenge(reply, decision);
      }
      const resourceToken = requirement['resource-token'];
      const claims = readIssuedResourceToken(resourceToken);
      const { id } = await context.pending.createInvocation({
        ownerJkt: claims.agent_jkt,
        resourceToken,
        resourceTokenExp: new Date(claims.exp * 1000),
        invocation: {
          method: request.method,
          path: request.url.split('?')[0]!,
          body: request.rawBody && request.rawBody.length > 0 ? request.rawBody.toString('utf8') : null,
          body_sha256: sha256Base64url(request.rawBody),
          action: { kind: 'delete_note', note_id: request.params.id },
          scopes: [NOTES_WRITE],
          person: { iss: claims.ps, sub: claims.sub },
          person_token: { iss: claims.ps, jti: claims.presented_jti },
        },
      });
      request.log.info({ event: 'invocation.held' }, 'call held for an auth token');
      return replyPending(reply, {
        location: `/pending/${id}`,
        retryAfter: context.pending.retryAfterSeconds,
        requirement,
        body: { status: 'pending' },
      });
    },
  );
}
