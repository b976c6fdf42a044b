import type { FetchLike } from '@aauth-ref/agent';
import { createGuardedFetch, type EgressPolicy } from '@aauth-ref/core';

/**
 * The chaining agent's outbound HTTP (PS metadata, PS token endpoints and pending URLs, the
 * downstream resource) through core's egress admission (ARCHITECTURE.md *Outbound fetches*), in the
 * `fetch` shape the agent client takes. Redirects are not followed: every request is signed for its
 * own `@authority` and `@path`, and a 3xx is handed back as it came.
 */
export function createChainFetch(policy: EgressPolicy): FetchLike {
  const guarded = createGuardedFetch({ policy, timeoutMs: 10_000, maxRedirects: 0 });
  return async (url, init) => {
    const method = (init.method ?? 'GET') as 'GET' | 'POST' | 'DELETE';
    const headers = { ...(init.headers as Record<string, string> | undefined) };
    const body = init.body instanceof Uint8Array ? init.body : undefined;
    const response = await guarded(url, { method, headers, ...(body ? { body } : {}) });
    const empty = response.status === 204 || response.status === 304 || response.body.length === 0;
    return new Response(empty ? null : new Uint8Array(response.body), {
      status: response.status,
      headers: response.headers,
    });
  };
}
