import { type Capability, parseAAuthCapabilities, ServerError } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChainOutcome, ChainService, UpstreamContext } from '../services/chain-service.js';
import { requireNotesRead } from '../services/r3-access.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * Call chaining (§Call Chaining, §Interaction Chaining): `GET /chain/notes` answers with the notes the
 * downstream resource (`DOWNSTREAM_RESOURCE`) holds for the same person, fetched by this resource as an
 * agent in its own right. It needs an auth token for this resource with `notes.read`, or `listNotes`
 * granted by R3 claims (the upstream authorization the chain extends). When the person's PS needs the
 * person, the caller gets `202` with this resource's own `requirement=interaction` and
 * `/chain/pending/{id}`; `/chain/interaction?code=…` sends the person on to the PS's interaction page.
 * Refusals by the chain (an auth token its PS did not issue, a PS refusing) are `403`/`503`, never
 * `500` (docs/spec-decisions.md, *Call chaining: refusals are not 500s*).
 */
export const CHAIN_PATH = '/chain/notes';
export const CHAIN_INTERACTION_PATH = '/chain/interaction';

const READ: RouteAAuthConfig = { allowUnsigned: true };
const POLL: RouteAAuthConfig = { schemes: ['jwt'] };

function capabilitiesOf(request: FastifyRequest): Capability[] {
  try {
    return [...parseAAuthCapabilities(request.headers['aauth-capabilities'])];
  } catch {
    // An unparsable header declares nothing (§AAuth-Capabilities: absent means nothing declared).
    return [];
  }
}

function sendOutcome(reply: FastifyReply, context: AppContext, downstream: string, outcome: ChainOutcome) {
  if (outcome.kind === 'pending') {
    return replyPending(reply, {
      location: `/chain/pending/${outcome.id}`,
      retryAfter: outcome.retryAfter,
      ...(outcome.interactionCode === undefined
        ? {}
        : {
            requirement: {
              requirement: 'interaction',
              url: `${context.issuer}${CHAIN_INTERACTION_PATH}`,
              code: outcome.interactionCode,
            },
          }),
      body: { status: outcome.status },
    });
  }
  if (outcome.status !== 200) {
    throw new ServerError(`The downstream resource answered ${outcome.status}.`);
  }
  return reply.header('cache-control', 'no-store').send({ downstream, result: outcome.body });
}

export function registerChainRoutes(
  app: FastifyInstance,
  context: AppContext,
  chain: ChainService,
  downstream: string,
): void {
  /** The upstream authorization: a sufficient auth token for this resource, as presented. */
  async function upstreamOf(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<UpstreamContext | undefined> {
    const decision = await requireNotesRead(context.access, context.r3, presentedOf(request));
    if (!decision.granted) {
      await replyChallenge(reply, decision);
      return undefined;
    }
    const raw = request.aauth?.token?.raw;
    if (raw === undefined) throw new TypeError('a granted auth token decision without the token');
    return {
      token: raw,
      ps: decision.auth.ps,
      sub: decision.auth.sub,
      callerJkt: request.aauth!.keyThumbprint,
      capabilities: capabilitiesOf(request),
    };
  }

  app.get(CHAIN_PATH, { config: { aauth: READ } }, async (request, reply) => {
    const upstream = await upstreamOf(request, reply);
    if (upstream === undefined) return reply;
    const outcome = await chain.start(upstream);
    request.log.info({ event: 'chain.called', outcome: outcome.kind }, 'call chaining');
    return sendOutcome(reply, context, downstream, outcome);
  });

  app.get<{ Params: { id: string } }>(
    '/chain/pending/:id',
    { config: { aauth: POLL } },
    async (request, reply) => {
      const upstream = await upstreamOf(request, reply);
      if (upstream === undefined) return reply;
      const outcome = await chain.resume(request.params.id, upstream);
      return sendOutcome(reply, context, downstream, outcome);
    },
  );

  app.get<{ Querystring: { code?: string } }>(CHAIN_INTERACTION_PATH, async (request, reply) => {
    const code = typeof request.query.code === 'string' ? request.query.code : '';
    const target = await chain.interactionTarget(code);
    if (target === undefined) {
      return reply
        .code(404)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unknown code</title></head><body><main><h1>Unknown or expired code</h1><p>Ask the agent for a new one.</p></main></body></html>',
        );
    }
    return reply.code(303).header('cache-control', 'no-store').header('location', target).send();
  });
}
