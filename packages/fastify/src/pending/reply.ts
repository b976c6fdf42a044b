import type { AAuthRequirement } from '@aauth-ref/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { replyPending } from '../reply.js';
import { allowFormAction } from '../web/security-headers.js';

/** A `202` still owed at a pending URL (§Pending Response). */
export interface OpenPollReply {
  readonly status: 'pending' | 'interacting';
  readonly retryAfter: number;
  readonly requirement?: AAuthRequirement;
  /** Members added to the body (`status` always wins). */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** The pending URL a request was made to, without its query: the `Location` of its `202`. */
export function pendingLocation(request: FastifyRequest): string {
  return request.url.split('?')[0]!;
}

export function replyOpenPoll(reply: FastifyReply, location: string, answer: OpenPollReply) {
  return replyPending(reply, {
    location,
    retryAfter: answer.retryAfter,
    ...(answer.requirement ? { requirement: answer.requirement } : {}),
    body: { ...answer.body, status: answer.status },
  });
}

/** The `200` of a deferred request: the body stored when it was approved, never cached. */
export function replyDeferredResult(reply: FastifyReply, result: unknown) {
  return reply
    .code(200)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(result));
}

/**
 * Back to the agent's `callback` after the person's decision, with `error=<code>` unless it succeeded
 * (§Interaction Callback Errors).
 */
export function redirectToCallback(reply: FastifyReply, callbackUrl: string, error?: string) {
  const target = new URL(callbackUrl);
  if (error !== undefined) target.searchParams.set('error', error);
  // Browsers apply form-action to the redirect that follows a form submission.
  allowFormAction(reply, target.origin);
  return reply.redirect(target.href, 303);
}
