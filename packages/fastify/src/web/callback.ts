import { DWK, type IssuerKeyResolver, originOf } from '@aauth-ref/core';
import { isSafeRedirect } from './redirect.js';

/**
 * The `callback` of an interaction page (§User Interaction: it "is constructed from the agent's
 * `callback_endpoint` metadata"). Accepted only when it is that endpoint — same origin and path, any
 * query — so a server holding a live interaction code never becomes an open redirector
 * (docs/spec-decisions.md, *Interaction callbacks bound to the agent's `callback_endpoint`*). Shared by
 * the PS and the resource so both apply one rule.
 */

/** `callback` is an absolute URL on `endpoint`'s origin and path (query free), with nothing unsafe in it. */
export function matchesCallbackEndpoint(callback: string, endpoint: string): boolean {
  const origin = originOf(endpoint);
  // A same-site path passes isSafeRedirect; a callback must name the agent's origin itself.
  if (origin === undefined || callback.startsWith('/') || !isSafeRedirect(callback, [origin])) return false;
  return new URL(callback).pathname === new URL(endpoint).pathname;
}

/**
 * Whether `callback` is the `callback_endpoint` the Agent Provider `agentIss` publishes in
 * `/.well-known/aauth-agent.json`. No issuer, no such member, or metadata that cannot be fetched → false.
 */
export async function isAgentCallback(
  keys: Pick<IssuerKeyResolver, 'metadata'>,
  agentIss: string | null | undefined,
  callback: string,
): Promise<boolean> {
  if (!agentIss) return false;
  let endpoint: unknown;
  try {
    endpoint = (await keys.metadata(agentIss, DWK.agent)).callback_endpoint;
  } catch {
    return false;
  }
  return typeof endpoint === 'string' && matchesCallbackEndpoint(callback, endpoint);
}
