import {
  type AuthTokenClaims,
  type Clock,
  Denied,
  DiscoveryError,
  DWK,
  type GuardedFetch,
  type GuardedResponse,
  type IdentifierPolicy,
  type IssuerKeyResolver,
  type KeyPair,
  parseAAuthRequirement,
  ServerError,
  signRequest,
  TokenVerificationError,
  type TokenVerifier,
} from '@aauth-ref/core';
import type { PersonLookup, PersonRecord, SecurityEventLog } from './ports.js';

/**
 * The PS side of four-party federation (§Access Server Federation): the PS-to-AS token request signed
 * as this PS (`jwks_uri`, `dwk=aauth-person.json`), the AS's deferred loop as far as the PS answers it
 * itself (§Claims Required), and §Auth Token Delivery's checks of the auth token before the agent sees
 * it. A token failing any check is never forwarded: `500 server_error` and a security event.
 */

export interface FederationClientDeps {
  readonly clock: Clock;
  /** This PS's issuer identifier: the `id` of its `jwks_uri` signatures. */
  readonly issuer: string;
  readonly identifierPolicy: IdentifierPolicy;
  /** Metadata discovery (`{aud}/.well-known/aauth-access.json`), through egress admission. */
  readonly keys: Pick<IssuerKeyResolver, 'metadata'>;
  /** Verifies the AS's auth token (keys through the same resolver). */
  readonly verifier: TokenVerifier;
  /** The PS's active signing key, read per request so a rotation takes effect at once. */
  readonly key: () => KeyPair;
  /** Egress-admitted HTTP (core's `createGuardedFetch`); tests inject a stub AS. */
  readonly fetch: GuardedFetch;
  readonly persons: PersonLookup;
  readonly securityEvents: SecurityEventLog;
}

export interface FederatedTokenRequest {
  /** The resource token's `aud`: the AS. */
  readonly accessServer: string;
  readonly resourceToken: string;
  readonly agentToken: string;
  readonly subagentToken?: string;
  readonly upstreamToken?: string;
  /** The resource token's `iss`: the auth token's `aud`. */
  readonly resource: string;
  /** The resource token's `sub`: the directed identifier the auth token must carry. */
  readonly sub: string;
  /** The resource token's `scope`: the most the auth token may carry. */
  readonly scope?: string;
  /** Thumbprint of the key the auth token must be bound to (the agent's, or the sub-agent's). */
  readonly cnfJkt: string;
  readonly personId: string;
  /** NumericDate the auth token must not outlive: the mission's `expires_at`. */
  readonly notAfter?: number;
}

export interface FederatedAuthToken {
  readonly authToken: string;
  readonly expiresIn: number;
  readonly claims: AuthTokenClaims;
}

export interface FederationClient {
  requestAuthToken(request: FederatedTokenRequest): Promise<FederatedAuthToken>;
}

/** Round trips with the AS per agent request (token request, claims answer, polls). */
const MAX_EXCHANGES = 6;

/** Claims the PS can release from the person record (§Claims Required; OpenID Connect Core §5.1). */
function releasableClaims(person: PersonRecord): Record<string, string> {
  const claims: Record<string, string> = { name: person.displayName };
  if (person.email !== null) claims.email = person.email;
  if (person.tenant !== null) claims.tenant = person.tenant;
  return claims;
}

function parseJson(response: GuardedResponse): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(response.body.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch (cause) {
    throw new ServerError('The access server answered with a malformed body.', { cause });
  }
  throw new ServerError('The access server answered with a malformed body.');
}

function scopeValues(scope: string | undefined): string[] {
  return scope === undefined ? [] : scope.split(' ').filter((value) => value.length > 0);
}

export function createFederationClient(deps: FederationClientDeps): FederationClient {
  async function send(method: 'GET' | 'POST', url: string, body?: unknown): Promise<GuardedResponse> {
    const key = deps.key();
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = bytes === undefined ? {} : { 'content-type': 'application/json' };
    const signed = signRequest(
      { method, url, headers, ...(bytes === undefined ? {} : { body: bytes }) },
      {
        key,
        signatureKey: { scheme: 'jwks_uri', id: deps.issuer, dwk: DWK.person, kid: key.kid },
        clock: deps.clock,
      },
    );
    try {
      return await deps.fetch(url, {
        method,
        headers: { ...headers, ...signed },
        ...(bytes === undefined ? {} : { body: bytes }),
        accept: 'application/json',
      });
    } catch (err) {
      if (err instanceof DiscoveryError) {
        throw new ServerError('The access server could not be reached.', { cause: err });
      }
      throw err;
    }
  }

  async function reject(request: FederatedTokenRequest, reason: string, cause?: unknown): Promise<never> {
    await deps.securityEvents.record({
      event: 'auth_token.rejected',
      detail: {
        access_server: request.accessServer,
        resource: request.resource,
        reason,
      },
    });
    throw new ServerError(
      'The access server issued an auth token that failed verification.',
      cause === undefined ? undefined : { cause },
    );
  }

  /** §Auth Token Delivery steps 1–6, and the mission's `expires_at`. */
  async function verifyDelivered(
    request: FederatedTokenRequest,
    body: Record<string, unknown>,
  ): Promise<FederatedAuthToken> {
    const jwt = body.auth_token;
    if (typeof jwt !== 'string') return reject(request, 'missing_auth_token');
    let claims: AuthTokenClaims;
    let thumbprint: string;
    try {
      const token = await deps.verifier.verify(jwt, { kinds: ['auth'] });
      // An AS's token is published under aauth-access.json; a PS-signed token here is not the AS's.
      claims = token.claims;
      if (claims.dwk !== DWK.access) return reject(request, 'dwk');
      thumbprint = token.cnfKey.thumbprint;
    } catch (err) {
      if (err instanceof TokenVerificationError) return reject(request, `signature:${err.reason}`, err);
      throw err;
    }
    if (claims.iss !== request.accessServer) return reject(request, 'iss');
    if (claims.aud !== request.resource) return reject(request, 'aud');
    if (thumbprint !== request.cnfJkt) return reject(request, 'cnf');
    if (claims.sub !== request.sub) return reject(request, 'sub');
    const allowed = new Set(scopeValues(request.scope));
    if (scopeValues(claims.scope).some((value) => !allowed.has(value))) return reject(request, 'scope');
    if (request.notAfter !== undefined && claims.exp > request.notAfter) return reject(request, 'exp');
    const expiresIn = claims.exp - Math.floor(deps.clock.now() / 1000);
    if (expiresIn <= 0) return reject(request, 'expired');
    return { authToken: jwt, expiresIn, claims };
  }

  function pendingUrl(response: GuardedResponse, endpoint: string): string {
    const location = response.headers.location;
    if (location === undefined) throw new ServerError('The access server deferred without a Location.');
    let url: URL;
    try {
      url = new URL(location, endpoint);
    } catch (cause) {
      throw new ServerError('The access server sent an unusable Location.', { cause });
    }
    // A signed poll goes only to the AS that was asked, never where a Location might steer it.
    if (url.origin !== new URL(endpoint).origin) {
      throw new ServerError('The access server sent a Location on another origin.');
    }
    return url.href;
  }

  return {
    async requestAuthToken(request) {
      let metadata: Record<string, unknown>;
      try {
        metadata = await deps.keys.metadata(request.accessServer, DWK.access);
      } catch (err) {
        if (err instanceof DiscoveryError) {
          throw new ServerError('The access server metadata could not be discovered.', { cause: err });
        }
        throw err;
      }
      const endpoint = metadata.auth_token_endpoint;
      if (typeof endpoint !== 'string') {
        throw new ServerError('The access server metadata has no auth_token_endpoint.');
      }
      const body: Record<string, string> = {
        resource_token: request.resourceToken,
        agent_token: request.agentToken,
      };
      if (request.subagentToken !== undefined) body.subagent_token = request.subagentToken;
      if (request.upstreamToken !== undefined) body.upstream_token = request.upstreamToken;

      let response = await send('POST', endpoint, body);
      let claimsSent = false;
      for (let exchange = 1; ; exchange += 1) {
        if (response.status === 200) return verifyDelivered(request, parseJson(response));
        if (response.status === 403) throw new Denied('The access server denied the request.');
        if (response.status !== 202 || exchange >= MAX_EXCHANGES) {
          throw new ServerError(`The access server answered ${response.status}; the request cannot proceed.`);
        }
        const location = pendingUrl(response, endpoint);
        const header = response.headers['aauth-requirement'];
        let requirement: string | undefined;
        if (header !== undefined) {
          try {
            requirement = parseAAuthRequirement(header, deps.identifierPolicy)?.requirement;
          } catch (cause) {
            throw new ServerError('The access server sent a malformed AAuth-Requirement.', { cause });
          }
        }
        if (requirement === 'claims' && !claimsSent) {
          // §Claims Required: the directed `sub` and what the person record holds; the AS keeps only
          // what it asked for, so the PS releases nothing beyond required_claims.
          const person = await deps.persons.findPerson(request.personId);
          if (person === undefined) throw new ServerError('The person is no longer known.');
          const asked = parseJson(response).required_claims;
          const wanted = new Set(Array.isArray(asked) ? asked.filter((c) => typeof c === 'string') : []);
          const answer: Record<string, string> = { sub: request.sub };
          for (const [name, value] of Object.entries(releasableClaims(person))) {
            if (wanted.has(name)) answer[name] = value;
          }
          claimsSent = true;
          const submitted = await send('POST', location, answer);
          if (submitted.status !== 202 && submitted.status !== 200) {
            throw new ServerError(`The access server refused the claims (${submitted.status}).`);
          }
          response = await send('GET', location);
          continue;
        }
        if (requirement !== undefined) {
          // Interaction, approval, clarification: steps this PS does not relay to the agent yet.
          throw new ServerError(
            `The access server requires ${requirement}, which this person server does not relay.`,
          );
        }
        // Deciding (no requirement): the AS answers the next poll.
        response = await send('GET', location);
      }
    },
  };
}
