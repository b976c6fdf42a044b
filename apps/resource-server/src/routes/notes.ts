import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { BODY_SIGNATURE_COMPONENTS } from '../metadata.js';
import { NOTES_READ, NOTES_WRITE } from '../scopes.js';
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
}
