import { parsePreferWait } from '@aauth-ref/core';
import { pendingLocation, replyDeferredResult, replyOpenPoll } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FederationRelay, RelayAnswer } from '../services/federation-relay.js';
import { isFederatedRecord } from '../services/federation-relay.js';
import type { PendingOwner, PendingService } from '../services/pending-service.js';

/** `Prefer: wait=N` is honoured up to this many seconds (§Deferred Responses: a hint, bounded). */
export const MAX_PREFER_WAIT_SECONDS = 30;

/** A relayed AS step or the auth token the AS issued (§AS Response, §Auth Token Delivery). */
export function replyRelayed(reply: FastifyReply, location: string, answer: RelayAnswer) {
  if (answer.kind === 'issued') {
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .send({ auth_token: answer.authToken, expires_in: answer.expiresIn });
  }
  return replyOpenPoll(reply, location, answer);
}

/**
 * Answers one poll of a pending URL: `200` with the result, or `202` while waiting. A four-party
 * request the AS deferred is answered by the relay (`relay`), which polls the AS. The record is read
 * once, here, and handed to whichever answers.
 */
export async function replyToPoll(
  request: FastifyRequest,
  reply: FastifyReply,
  pending: PendingService,
  id: string,
  owner: PendingOwner,
  relay?: FederationRelay,
) {
  const record = await pending.loadForOwner(id, owner);
  if (relay !== undefined && isFederatedRecord(record)) {
    return replyRelayed(reply, pendingLocation(request), await relay.poll(record));
  }
  const wait = parsePreferWait(request.headers.prefer, MAX_PREFER_WAIT_SECONDS) ?? 0;
  const answer = await pending.poll(record, wait);
  if (answer.kind === 'result') return replyDeferredResult(reply, answer.result);
  return replyOpenPoll(reply, pendingLocation(request), answer);
}

/** `DELETE` of a pending URL: the request is cancelled and later polls are `410`. */
export async function replyToCancel(
  reply: FastifyReply,
  pending: PendingService,
  id: string,
  owner: PendingOwner,
  relay?: FederationRelay,
) {
  const record = await pending.loadForOwner(id, owner);
  // §Cancel Request: the AS's pending request is withdrawn too.
  if (relay !== undefined && isFederatedRecord(record)) {
    await relay.cancel(record);
    return reply.code(204).header('cache-control', 'no-store').send();
  }
  await pending.cancel(record);
  return reply.code(204).header('cache-control', 'no-store').send();
}
