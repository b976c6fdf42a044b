import {
  type AAuthRequirement,
  type AuthTokenClaims,
  epochSeconds,
  Forbidden,
  Gone,
  parsePreferWait,
  R3_VOCABULARY_OPENAPI,
  r3OperationsInclude,
  serializeAAuthAccess,
} from '@aauth-ref/core';
import { pendingLocation, type RouteAAuthConfig, replyOpenPoll } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DEFAULT_NOTEBOOK, hasScopes, NOTES_READ } from '../scopes.js';
import { readIssuedResourceToken, runHeldInvocation } from '../services/held-invocations.js';
import type { HeldInvocation, InvocationResult, PendingRecord } from '../services/pending-service.js';
import { demoOperationById } from '../services/r3-catalog.js';
import { type AppContext, presentedOf } from './context.js';

/**
 * `GET /pending/:id` — the resource's pending URLs (§Deferred Responses). Every poll is signed
 * (§Pending URL Security: identity on every poll) by the key the record is bound to; another key
 * gets `404`. An approved interaction answers `200` with `AAuth-Access`; a held invocation runs on
 * the first poll that presents a sufficient auth token, and the same auth token gets its stored
 * result again until the token's `exp` (§Deferred Delivery). Otherwise terminal records are `410`.
 * An interaction's poll honours `Prefer: wait=N` up to the service's bound (a long poll that answers
 * as soon as the person acts); a held invocation's does not wait, since only the agent's next poll
 * (with an auth token) can move it.
 */
const POLL: RouteAAuthConfig = { schemes: ['jwt'] };

/**
 * Whether an auth token may complete a held call. One with R3 claims is enforced from them alone
 * (R3 §Resource Enforcement): it must be the per-call auth token for the held call's proposal
 * (`r3_s256` equal, `deleteNote` in `r3_granted`); one without takes the scope check.
 */
function completesHeldCall(
  claims: AuthTokenClaims,
  invocation: HeldInvocation,
  scope: string | undefined,
): boolean {
  if (claims.r3_uri === undefined) return hasScopes(scope, invocation.scopes);
  return (
    invocation.r3 !== undefined &&
    claims.r3_s256 === invocation.r3.r3_s256 &&
    r3OperationsInclude(claims.r3_granted, R3_VOCABULARY_OPENAPI, {
      operationId: demoOperationById('deleteNote').operationId,
    })
  );
}

function sendResult(reply: FastifyReply, result: InvocationResult) {
  return reply
    .code(result.status)
    .header('cache-control', 'no-store')
    .type(result.status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8')
    .send(JSON.stringify(result.body));
}

export function registerPendingRoute(app: FastifyInstance, context: AppContext): void {
  const { pending, access, records, clock } = context;

  /** The resource token to offer on a held invocation's poll: the stored one, or a fresh one once it expired. */
  async function offeredResourceToken(record: PendingRecord): Promise<AAuthRequirement | undefined> {
    const now = epochSeconds(clock);
    if (record.resourceToken !== null && record.resourceTokenExp !== null) {
      if (record.resourceTokenExp.getTime() > clock.now()) {
        return { requirement: 'auth-token', 'resource-token': record.resourceToken };
      }
    }
    const invocation = record.invocation!;
    const named = await records.findPersonToken(invocation.person_token.iss, invocation.person_token.jti);
    const person =
      named !== undefined && named.exp > now
        ? named
        : await records.findPersonTokenForKey({
            cnfJkt: record.ownerJkt,
            after: now,
            iss: invocation.person.iss,
            sub: invocation.person.sub,
          });
    // No unexpired person token of this person for this key: nothing can be named (§Resource Access).
    if (!person) return undefined;
    const fresh = await access.mintResourceToken({
      person,
      agentJkt: record.ownerJkt,
      scopes: invocation.scopes,
      ...(invocation.r3 === undefined ? {} : { r3: invocation.r3 }),
    });
    await pending.store.setResourceToken(
      record.id,
      fresh,
      new Date(readIssuedResourceToken(fresh).exp * 1000),
    );
    return { requirement: 'auth-token', 'resource-token': fresh };
  }

  app.get<{ Params: { id: string } }>('/pending/:id', { config: { aauth: POLL } }, async (request, reply) => {
    const presented = presentedOf(request);
    if (presented === null) throw new Gone('unreachable: the route requires a signature');
    const record = await pending.loadForOwner(request.params.id, presented.keyThumbprint);
    const location = pendingLocation(request);

    if (record.kind === 'invocation') {
      const auth = presented.kind === 'auth' ? presented.claims : undefined;
      if (record.terminalAt !== null) {
        // §Deferred Delivery: the same auth token gets the stored result, not a second execution.
        const same =
          auth !== undefined &&
          record.result !== null &&
          record.authIss === auth.iss &&
          record.authJti === auth.jti &&
          record.resultUntil !== null &&
          clock.now() < record.resultUntil.getTime();
        if (same) return sendResult(reply, record.result!);
        throw new Gone('This pending request has ended.');
      }
      const open = await pending.settle(record);
      const invocation = open.invocation!;
      if (presented.kind === 'auth') {
        const accepted = await access.acceptAuthToken(presented);
        if (accepted.ps !== invocation.person.iss || accepted.sub !== invocation.person.sub) {
          throw new Forbidden('The auth token is for another person than the held call.');
        }
        if (completesHeldCall(presented.claims, invocation, accepted.scope)) {
          const claim = {
            authIss: accepted.iss,
            authJti: accepted.jti,
            resultUntil: new Date(accepted.exp * 1000),
            at: new Date(clock.now()),
          };
          const notebook = accepted.account ?? DEFAULT_NOTEBOOK;
          const perCall = presented.claims.r3_uri === undefined ? undefined : invocation.r3;
          // A per-call proposal is consumed once whichever delivery completes it (R3 §Per-Call
          // Proposals, Flow step 4): a retry of the call itself may have run it already.
          const consumed =
            perCall === undefined
              ? undefined
              : await context.r3.executeOnce(accepted, perCall.r3_s256, (notes) =>
                  runHeldInvocation(notes, invocation, notebook),
                );
          const result = await pending.store.executeInvocation(open.id, claim, (notes) =>
            consumed === undefined
              ? runHeldInvocation(notes, invocation, notebook)
              : Promise.resolve(consumed),
          );
          if (result !== undefined) {
            request.log.info({ event: 'invocation.executed', status: result.status }, 'held call executed');
            return sendResult(reply, result);
          }
          // Another poll completed it first: the same auth token still gets its result.
          const after = await pending.store.find(open.id);
          if (after?.result && after.authIss === accepted.iss && after.authJti === accepted.jti) {
            return sendResult(reply, after.result);
          }
          throw new Gone('This pending request has ended.');
        }
      }
      await pending.pace(open);
      return replyOpenPoll(reply, location, pending.openAnswer(open, await offeredResourceToken(open)));
    }

    let open = await pending.settle(record);
    if (open.status !== 'approved') {
      await pending.pace(open);
      // §Deferred Responses: `Prefer: wait=N` holds the poll until the person acts, bounded by us.
      const wait = parsePreferWait(request.headers.prefer, pending.maxWaitSeconds) ?? 0;
      if (wait > 0) open = await pending.settle(await pending.awaitChange(open, wait));
    }
    if (open.status === 'approved') {
      const scope = open.scope ?? NOTES_READ;
      // Delivered to an agent token: the grant follows the agent across key rotations.
      const { token, row } = context.sessionTokens.mint({
        userId: open.userId!,
        agentJkt: open.ownerJkt,
        ...(presented.kind === 'agent'
          ? { agent: { iss: presented.claims.iss, sub: presented.claims.sub } }
          : {}),
        scope,
      });
      if (!(await pending.store.deliverSession(open.id, new Date(clock.now()), row))) {
        throw new Gone('This pending request has ended.');
      }
      request.log.info({ event: 'session_token.issued' }, 'session token issued');
      return reply
        .code(200)
        .header('aauth-access', serializeAAuthAccess(token))
        .header('cache-control', 'no-store')
        .send({ status: 'authorized', scope });
    }
    return replyOpenPoll(reply, location, pending.openAnswer(open));
  });
}
