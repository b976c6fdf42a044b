import { InvalidAccount, InvalidRequest, InvalidScope } from '@aauth-ref/core';
import { NOTEBOOKS, splitScope } from '../scopes.js';

/** The body of an authorization endpoint request (§Authorization Endpoint Request). */
export interface AuthorizationRequest {
  readonly scopes: readonly string[];
  readonly account?: string;
  /** R3 §Authorization Endpoint Extensions: the member as sent, validated by the R3 service. */
  readonly r3_operations?: unknown;
}

/** Bounds for storage and headers; the demo's values are far shorter. */
const MAX_SCOPE_LENGTH = 1_024;
const MAX_ACCOUNT_LENGTH = 256;

/**
 * Reads `scope` (space-separated, every value one this resource defines; REQUIRED unless the request
 * declares `r3_operations`, R3 §Authorization Endpoint Extensions) and `account` (OPTIONAL, one of
 * the person's notebooks). Unknown members are ignored. Throws `InvalidRequest`, `InvalidScope` or
 * `InvalidAccount` (§Authorization Endpoint Error Responses).
 */
export function parseAuthorizationRequest(
  body: unknown,
  knownScopes: ReadonlySet<string>,
): AuthorizationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The body must be a JSON object with scope.');
  }
  const { scope, account, r3_operations } = body as Record<string, unknown>;
  const r3 = r3_operations === undefined ? {} : { r3_operations };
  let scopes: string[] = [];
  if (scope !== undefined || r3_operations === undefined) {
    if (typeof scope !== 'string') throw new InvalidRequest('scope is required: a space-separated string.');
    if (scope.length > MAX_SCOPE_LENGTH) throw new InvalidRequest('scope is too long.');
    // RFC 6749 §3.3: values separated by single spaces, printable ASCII without `"` and `\`.
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)) {
      throw new InvalidRequest('scope must be scope values separated by single spaces.');
    }
    scopes = splitScope(scope);
    const unknown = scopes.filter((value) => !knownScopes.has(value));
    if (unknown.length > 0) throw new InvalidScope(`Unknown scope: ${unknown.join(' ')}.`);
  }
  if (account === undefined) return { scopes, ...r3 };
  if (typeof account !== 'string' || account.length === 0 || account.length > MAX_ACCOUNT_LENGTH) {
    throw new InvalidRequest('account must be a non-empty string.');
  }
  if (!NOTEBOOKS.includes(account)) {
    throw new InvalidAccount(
      `The person holds no account ${JSON.stringify(account)}; accounts are ${NOTEBOOKS.join(', ')}.`,
    );
  }
  return { scopes, account, ...r3 };
}
