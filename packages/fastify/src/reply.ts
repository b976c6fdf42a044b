import { type AAuthRequirement, serializeAAuthRequirement } from '@aauth-ref/core';
import type { FastifyReply } from 'fastify';

/**
 * Protocol replies that are not errors (CONVENTIONS.md, *Errors*): a requirement challenge and a
 * deferred `202`. Each always sets what the spec requires.
 */

export interface RequirementReplyOptions {
  /** `401` (the default) or `402` when payment is additionally required (§Requirement Responses). */
  readonly status?: 401 | 402;
  /** Optional JSON body. */
  readonly body?: Record<string, unknown>;
}

/** `401`/`402` with `AAuth-Requirement` (§Requirement Responses). */
export function replyRequirement(
  reply: FastifyReply,
  requirement: AAuthRequirement,
  options: RequirementReplyOptions = {},
) {
  const { identifierPolicy } = reply.server.aauthServer;
  reply
    .code(options.status ?? 401)
    .header('aauth-requirement', serializeAAuthRequirement(requirement, identifierPolicy));
  reply.header('cache-control', 'no-store');
  return options.body === undefined
    ? reply.send()
    : reply.type('application/json; charset=utf-8').send(JSON.stringify(options.body));
}

export interface PendingBody {
  /** Agents treat unknown values as `pending` (§Pending Response). */
  readonly status: 'pending' | 'interacting';
  readonly [member: string]: unknown;
}

export interface PendingReplyOptions {
  /** The pending URL: absolute or a path; it must be on this server's origin. */
  readonly location: string;
  /** Seconds the agent should wait before polling; `0` means immediately. */
  readonly retryAfter: number;
  readonly requirement?: AAuthRequirement;
  readonly body: PendingBody;
}

/**
 * `202 Accepted` with `Location` (absolute, same origin as the issuer), `Retry-After` and
 * `Cache-Control: no-store` (§Pending Response: all three REQUIRED).
 */
export function replyPending(reply: FastifyReply, options: PendingReplyOptions) {
  const { issuer, identifierPolicy } = reply.server.aauthServer;
  const origin = new URL(issuer).origin;
  const location = new URL(options.location, origin);
  if (location.origin !== origin) {
    throw new Error('the pending URL must be on the same origin as the responding server');
  }
  if (!Number.isInteger(options.retryAfter) || options.retryAfter < 0) {
    throw new Error('retryAfter must be a non-negative integer number of seconds');
  }
  reply
    .code(202)
    .header('location', location.href)
    .header('retry-after', String(options.retryAfter))
    .header('cache-control', 'no-store');
  if (options.requirement) {
    reply.header('aauth-requirement', serializeAAuthRequirement(options.requirement, identifierPolicy));
  }
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(options.body));
}
