import { isSafeRedirect } from '@aauth-ref/fastify';

/**
 * The `callback` of the resource's interaction page (§User Interaction): an absolute `https` URL, or
 * in development mode `http` on a loopback host, with no credentials or control characters
 * (`isSafeRedirect`). The callback has no security role (§Why Callback URL Has No Security Role): it
 * only returns the person's browser to the agent.
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isAllowedCallback(url: string, devMode: boolean): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (!isSafeRedirect(url, [parsed.origin])) return false;
  if (parsed.protocol === 'https:') return true;
  return devMode && parsed.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname);
}

/** The callback with `error=<code>` added (§Interaction Callback Errors), or unchanged on success. */
export function callbackTarget(callbackUrl: string, error?: CallbackError): URL {
  const target = new URL(callbackUrl);
  if (error !== undefined) target.searchParams.set('error', error);
  return target;
}

export type CallbackError =
  | 'access_denied'
  | 'user_abandoned'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'interaction_expired';
