/**
 * The `callback` of the resource's interaction page (§User Interaction). It is accepted only when it is
 * the `callback_endpoint` of the agent's AP (`isAgentCallback` of `@aauth-ref/fastify`, the PS's rule):
 * the spec gives the callback no security role (§Why Callback URL Has No Security Role), but an
 * unchecked one makes this page an open redirector for whoever holds a live code.
 */

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
