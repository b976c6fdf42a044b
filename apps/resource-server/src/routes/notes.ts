import { R3_VOCABULARY_OPENAPI } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { BODY_SIGNATURE_COMPONENTS } from '../metadata.js';
import { readIssuedResourceToken, runNoteDeletion, sha256Base64url } from '../services/held-invocations.js';
import type { InvocationResult } from '../services/pending-service.js';
import { type R3AccessGranted, requireR3Call } from '../services/r3-access.js';
import { demoOperationById } from '../services/r3-catalog.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * The notes API — PS authorization access (§PS Authorization Access, three-party). Each call needs an
 * auth token for this resource with the route's scope; anything less is answered with the challenge
 * it earns (§Auth Token Required): a resource token when a person token was verified for this key,
 * `requirement=person-token` otherwise. Notes belong to `(ps, sub)` of the auth token and to the
 * notebook its `account` names. The routes are the OpenAPI operations `listNotes`, `createNote` and
 * `deleteNote` (R3 §OpenAPI Vocabulary): an auth token with R3 claims is enforced from them, and
 * every challenge's resource token references an R3 document (services/r3-access.ts).
 */
const LIST_NOTES = demoOperationById('listNotes');
const CREATE_NOTE = demoOperationById('createNote');
const DELETE_NOTE = demoOperationById('deleteNote');

/** Runs `run` once per per-call auth token when the decision is one (R3 §Per-Call Proposals, Flow step 4). */
function runDecided<T>(
  context: AppContext,
  decision: R3AccessGranted,
  run: () => Promise<{ status: number; body: T }>,
): Promise<{ status: number; body: T }> {
  const { perCall } = decision;
  return perCall === undefined ? run() : context.r3.executeOnce(decision.auth, perCall.r3_s256, run);
}

function sendJson(reply: FastifyReply, result: { status: number; body: unknown }) {
  return reply.code(result.status).header('cache-control', 'no-store').send(result.body);
}

function bodyParameters(body: unknown): Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}
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
    const decision = await requireR3Call(context.access, context.r3, presentedOf(request), {
      vocabulary: R3_VOCABULARY_OPENAPI,
      operations: [LIST_NOTES],
      parameters: {},
    });
    if (!decision.granted) return replyChallenge(reply, decision);
    const result = await runDecided(context, decision, async () => ({
      status: 200,
      body: {
        notebook: decision.notebook,
        notes: await context.notes.list(decision.person, decision.notebook),
      },
    }));
    return sendJson(reply, result);
  });

  app.post('/api/notes', { config: { aauth: WRITE } }, async (request, reply) => {
    const decision = await requireR3Call(context.access, context.r3, presentedOf(request), {
      vocabulary: R3_VOCABULARY_OPENAPI,
      operations: [CREATE_NOTE],
      parameters: bodyParameters(request.body),
    });
    if (!decision.granted) return replyChallenge(reply, decision);
    const result = await runDecided(context, decision, async () => ({
      status: 201,
      body: { note: await context.notes.create(decision.person, decision.notebook, request.body) },
    }));
    return sendJson(reply, result);
  });

  /**
   * `DELETE /api/notes/:id` — deferred auth-token delivery (§Deferred Delivery). With a sufficient auth
   * token it runs at once; a request that earns `requirement=auth-token` is held instead: `202` with
   * the resource token and a pending URL bound to the resource token's `agent_jkt`, and the call runs
   * on the first poll that presents a sufficient auth token. Anything less gets its `401` challenge.
   * R3 §Per-Call Proposals: the held call's resource token references a proposal for it, and the
   * per-call auth token may complete it at the pending URL (`202`) or on a retry of the call itself
   * (`401` delivery: the parameters must match and it runs at most once).
   */
  app.delete<{ Params: { id: string } }>(
    '/api/notes/:id',
    { config: { aauth: DELETE } },
    async (request, reply) => {
      const decision = await requireR3Call(context.access, context.r3, presentedOf(request), {
        vocabulary: R3_VOCABULARY_OPENAPI,
        operations: [DELETE_NOTE],
        parameters: { id: request.params.id },
      });
      if (decision.granted) {
        const { person, notebook, perCall } = decision;
        const remove = (notes: typeof context.noteStore) =>
          runNoteDeletion(notes, person, notebook, request.params.id);
        const result: InvocationResult =
          perCall === undefined
            ? await remove(context.noteStore)
            : await context.r3.executeOnce(decision.auth, perCall.r3_s256, remove);
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
          scopes: [...DELETE_NOTE.scopes],
          ...(claims.r3_uri === undefined ? {} : { r3: { r3_uri: claims.r3_uri, r3_s256: claims.r3_s256! } }),
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
