import { parsePreferWait } from '@aauth-ref/core';
import { replyPending } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PendingOwner, PendingService } from '../services/pending-service.js';

/** `Prefer: wait=N` is honoured up to this many seconds (§Deferred Responses: a hint, bounded). */
export const MAX_PREFER_WAIT_SECONDS = 30;

/** Answers one poll of a pending URL: `200` with the result, or `202` while waiting. */
export async function replyToPoll(
  request: FastifyRequest,
  reply: FastifyReply,
  pending: PendingService,
  id: string,
  owner: PendingOwner,
) {
  const wait = parsePreferWait(request.headers.prefer, MAX_PREFER_WAIT_SECONDS) ?? 0;
  const answer = await pending.poll(id, owner, wait);
  if (answer.kind === 'result') {
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(answer.result));
  }
  return replyPending(reply, {
    location: request.url.split('?')[0]!,
    retryAfter: answer.retryAfter,
    ...(answer.requirement ? { requirement: answer.requirement } : {}),
    body: { ...answer.body, status: answer.status },
  });
}

/** `DELETE` of a pending URL: the request is cancelled and later polls are `410`. */
export async function replyToCancel(
  reply: FastifyReply,
  pending: PendingService,
  id: string,
  owner: PendingOwner,
) {
  await pending.cancel(id, owner);
  return reply.code(204).header('cache-control', 'no-store').send();
}
