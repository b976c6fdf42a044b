import {
  type AAuthRequirement,
  type AuthTokenClaims,
  type Clock,
  Denied,
  DiscoveryError,
  DWK,
  Expired,
  Gone,
  type GuardedFetch,
  type GuardedResponse,
  generateInteractionCode,
  type IdentifierPolicy,
  InvalidRequest,
  InvalidResourceToken,
  type IssuerKeyResolver,
  isEndpointUrl,
  type KeyPair,
  parseAAuthRequirement,
  parseRetryAfter,
  ServerError,
  signRequest,
  TemporarilyUnavailable,
  TokenVerificationError,
  type TokenVerifier,
} from '@aauth-ref/core';
import type { PersonLookup, PersonRecord, SecurityEventLog, SecurityEventName } from './ports.js';

/**
 * The PS side of four-party federation (§Access Server Federation, §AS Response): the PS-to-AS token
 * request signed as this PS (`jwks_uri`, `dwk=aauth-person.json`), the AS's deferred loop — the steps
 * the PS answers itself (§Claims Required, the demo payment's billing cache) and the ones it relays to
 * the agent (interaction, approval, clarification, a payment a person must settle) — and §Auth Token
 * Delivery's checks of the auth token before the agent sees it. A token failing any check is never
 * forwarded: `500 server_error` and a security event. Every exchange is a plain function of the
 * persisted {@link FederationState}, so a deferred request continues on any instance after a restart.
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
  /** §AS Response "Payment required": the billing relationships this PS holds, per AS. */
  readonly billing?: BillingCache;
}

/** "The PS caches the billing relationship per AS." */
export interface BillingCache {
  has(accessServer: string): Promise<boolean>;
  record(accessServer: string, method: string, at: Date): Promise<void>;
  forget(accessServer: string): Promise<void>;
}

/** What §Auth Token Delivery checks the AS's token against; kept with a deferred request. */
export interface DeliveryFacts {
  /** The resource token's `aud`: the AS. */
  readonly accessServer: string;
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
  /** The resource token's R3 claims: an auth token naming another R3 document is refused. */
  readonly r3Uri?: string;
  readonly r3S256?: string;
}

export interface FederatedTokenRequest extends DeliveryFacts {
  readonly resourceToken: string;
  readonly agentToken: string;
  readonly subagentToken?: string;
  readonly upstreamToken?: string;
}

export interface FederatedAuthToken {
  readonly authToken: string;
  readonly expiresIn: number;
  readonly claims: AuthTokenClaims;
}

/** The AS's current step as the agent sees it at the PS's pending URL. */
export interface RelayedStep {
  readonly status: 'pending' | 'interacting';
  /** Absent while the AS decides (or the person is at the AS's page): plain `202`. */
  readonly requirement?: 'interaction' | 'approval' | 'clarification';
  /** `interaction`: the AS's page (or its demo billing page) and the code. */
  readonly url?: string;
  readonly code?: string;
  /** `interaction` relays a `402` the person settles (`payment`) or the AS's own interaction. */
  readonly reason?: 'payment' | 'interaction';
  /** `clarification`: the AS's question, its options, and when it stops waiting (epoch ms). */
  readonly clarification?: string;
  readonly options?: readonly string[];
  readonly deadline?: number;
}

/** A deferred AS request, as plain JSON: all the PS needs to continue it. */
export interface FederationState {
  readonly tokenEndpoint: string;
  /** The AS's `Location`, same origin as `tokenEndpoint`. */
  readonly pendingUrl: string;
  /** The AS's `Retry-After` of its last answer, seconds. */
  readonly retryAfter: number;
  readonly step: RelayedStep;
  /** Times the PS answered `requirement=claims` on this request. */
  readonly claimsAnswers: number;
  /** A `402` was answered on this request and not yet settled. */
  readonly paymentSeen: boolean;
}

export type FederationOutcome =
  | { readonly kind: 'issued'; readonly token: FederatedAuthToken }
  | { readonly kind: 'deferred'; readonly state: FederationState };

export interface FederationClient {
  /**
   * Sends the token request and follows the AS's answers while they need no one but the PS
   * (claims, `Retry-After: 0`): a token, or the deferred state to relay. Throws the terminal errors.
   */
  start(request: FederatedTokenRequest): Promise<FederationOutcome>;
  /** One poll of the AS's pending URL (and what the PS answers at once after it). */
  poll(facts: DeliveryFacts, state: FederationState): Promise<FederationOutcome>;
  /** Forwards the agent's `clarification_response` to the AS's pending URL. */
  respond(facts: DeliveryFacts, state: FederationState, text: string): Promise<FederationOutcome>;
  /** `DELETE` of the AS's pending URL (§Cancel Request); whether the AS took it, never throws. */
  cancel(state: FederationState): Promise<boolean>;
}

/** Exchanges with the AS per agent request before the PS defers (token request, claims, polls). */
const MAX_EXCHANGES = 6;
/** The PS answers claims at most this often per request: an AS asking again and again is looping. */
const MAX_CLAIMS_ANSWERS = 3;
/** An AS `Retry-After` longer than this is capped (the PS's own pending request expires anyway). */
const MAX_AS_RETRY_AFTER = 300;
/** `429` from the AS: its interval grows by 5 s (§Deferred Responses "linear backoff"). */
const SLOW_DOWN_INCREMENT = 5;
/** §Deferred Responses: "If a Retry-After header is not present, the default polling interval is 5 seconds." */
const DEFAULT_AS_RETRY_AFTER = 5;
export const MAX_CLARIFICATION_RESPONSE_LENGTH = 4096;

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

/** The JSON body when there is one; `{}` otherwise (a `202` body is informative only). */
function optionalJson(response: GuardedResponse): Record<string, unknown> {
  if (response.body.length === 0) return {};
  try {
    return parseJson(response);
  } catch {
    return {};
  }
}

function scopeValues(scope: string | undefined): string[] {
  return scope === undefined ? [] : scope.split(' ').filter((value) => value.length > 0);
}

export function createFederationClient(deps: FederationClientDeps): FederationClient {
  const now = () => deps.clock.now();

  async function send(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<GuardedResponse> {
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
        // Unreachable is transient (§Deferred Response State Machine: 503 → back off, retry); an
        // endpoint egress admission refuses is this deployment's problem, not the agent's.
        if (err.reason === 'network') {
          throw new TemporarilyUnavailable('The access server could not be reached.', { cause: err });
        }
        throw new ServerError('The access server could not be reached.', { cause: err });
      }
      throw err;
    }
  }

  async function securityEvent(
    facts: DeliveryFacts,
    event: SecurityEventName,
    reason: string,
  ): Promise<void> {
    await deps.securityEvents.record({
      event,
      detail: { access_server: facts.accessServer, resource: facts.resource, reason },
    });
  }

  async function reject(facts: DeliveryFacts, reason: string, cause?: unknown): Promise<never> {
    await securityEvent(facts, 'auth_token.rejected', reason);
    throw new ServerError(
      'The access server issued an auth token that failed verification.',
      cause === undefined ? undefined : { cause },
    );
  }

  /** An AS answer the PS must not relay (an interaction URL elsewhere, say): server_error and an event. */
  async function refuseStep(facts: DeliveryFacts, reason: string): Promise<never> {
    await securityEvent(facts, 'as_step.rejected', reason);
    throw new ServerError('The access server asked for a step this person server cannot relay.');
  }

  /** §Auth Token Delivery steps 1–6, and the mission's `expires_at`. */
  async function verifyDelivered(
    facts: DeliveryFacts,
    body: Record<string, unknown>,
  ): Promise<FederatedAuthToken> {
    const jwt = body.auth_token;
    if (typeof jwt !== 'string') return reject(facts, 'missing_auth_token');
    let claims: AuthTokenClaims;
    let thumbprint: string;
    try {
      const token = await deps.verifier.verify(jwt, { kinds: ['auth'] });
      // An AS's token is published under aauth-access.json; a PS-signed token here is not the AS's.
      claims = token.claims;
      if (claims.dwk !== DWK.access) return reject(facts, 'dwk');
      thumbprint = token.cnfKey.thumbprint;
    } catch (err) {
      if (err instanceof TokenVerificationError) return reject(facts, `signature:${err.reason}`, err);
      throw err;
    }
    if (claims.iss !== facts.accessServer) return reject(facts, 'iss');
    if (claims.aud !== facts.resource) return reject(facts, 'aud');
    if (thumbprint !== facts.cnfJkt) return reject(facts, 'cnf');
    if (claims.sub !== facts.sub) return reject(facts, 'sub');
    const allowed = new Set(scopeValues(facts.scope));
    if (scopeValues(claims.scope).some((value) => !allowed.has(value))) return reject(facts, 'scope');
    if (facts.notAfter !== undefined && claims.exp > facts.notAfter) return reject(facts, 'exp');
    // R3 §Auth Token Extensions: r3_uri/r3_s256 pin the document the resource token named.
    if (
      (claims.r3_uri !== undefined || claims.r3_s256 !== undefined) &&
      (claims.r3_uri !== facts.r3Uri || claims.r3_s256 !== facts.r3S256)
    ) {
      return reject(facts, 'r3');
    }
    const expiresIn = claims.exp - Math.floor(now() / 1000);
    if (expiresIn <= 0) return reject(facts, 'expired');
    return { authToken: jwt, expiresIn, claims };
  }

  function pendingUrl(response: GuardedResponse, endpoint: string, previous?: string): string {
    const location = response.headers.location;
    if (location === undefined) {
      if (previous !== undefined) return previous;
      throw new ServerError('The access server deferred without a Location.');
    }
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

  function retryAfterOf(response: GuardedResponse): number {
    const header = response.headers['retry-after'];
    if (header === undefined) return DEFAULT_AS_RETRY_AFTER;
    let seconds: number | undefined;
    try {
      seconds = parseRetryAfter(header, deps.clock);
    } catch {
      seconds = undefined;
    }
    return Math.min(seconds ?? DEFAULT_AS_RETRY_AFTER, MAX_AS_RETRY_AFTER);
  }

  function requirementOf(response: GuardedResponse): AAuthRequirement | undefined {
    const header = response.headers['aauth-requirement'];
    if (header === undefined) return undefined;
    try {
      return parseAAuthRequirement(header, deps.identifierPolicy);
    } catch (cause) {
      throw new ServerError('The access server sent a malformed AAuth-Requirement.', { cause });
    }
  }

  /** An `https` endpoint (identifier policy) on the AS's own origin, or a refusal. */
  async function asPageUrl(facts: DeliveryFacts, url: unknown, reason: string): Promise<string> {
    if (!isEndpointUrl(url, deps.identifierPolicy)) return refuseStep(facts, `${reason}:url`);
    if (new URL(url).origin !== new URL(facts.accessServer).origin)
      return refuseStep(facts, `${reason}:origin`);
    return url;
  }

  /** §Claims Required: `sub` and, of the claims asked for, what the person record holds. */
  async function claimsAnswer(
    facts: DeliveryFacts,
    response: GuardedResponse,
  ): Promise<Record<string, string>> {
    const person = await deps.persons.findPerson(facts.personId);
    if (person === undefined) throw new ServerError('The person is no longer known.');
    const asked = optionalJson(response).required_claims;
    const wanted = new Set(Array.isArray(asked) ? asked.filter((c) => typeof c === 'string') : []);
    // The AS keeps only what it asked for, so the PS releases nothing beyond required_claims.
    const answer: Record<string, string> = { sub: facts.sub };
    for (const [name, value] of Object.entries(releasableClaims(person))) {
      if (wanted.has(name)) answer[name] = value;
    }
    return answer;
  }

  /** The terminal answers of §Polling Error Codes, as the PS gives them to the agent. */
  function terminal(response: GuardedResponse): never {
    switch (response.status) {
      case 403:
        throw new Denied('The access server denied the request.');
      case 408:
        throw new Expired('The access server request expired; start a new request.');
      case 410:
        throw new Gone('The access server request has ended.');
      default:
        throw new ServerError(`The access server answered ${response.status}; the request cannot proceed.`);
    }
  }

  /**
   * §AS Response "Payment required". With a billing relationship cached for this AS the `402` means
   * the AS no longer honours it: the cache is dropped. The demo method is settled by a person at the
   * AS's billing page, so it is relayed as `requirement=interaction` (docs/spec-decisions.md).
   */
  async function paymentStep(
    facts: DeliveryFacts,
    response: GuardedResponse,
    previous: RelayedStep | undefined,
  ): Promise<RelayedStep> {
    if (deps.billing !== undefined && (await deps.billing.has(facts.accessServer))) {
      await deps.billing.forget(facts.accessServer);
    }
    const requirement = requirementOf(response);
    if (requirement?.requirement === 'interaction') {
      // The AS also needs the person's binding, offered with the same code the later 202 repeats:
      // the person binds first; the billing page follows on a later poll.
      const url = await asPageUrl(facts, requirement.url, 'interaction');
      return {
        status: 'pending',
        requirement: 'interaction',
        reason: 'interaction',
        url,
        code: requirement.code,
      };
    }
    const payment = optionalJson(response).payment as Record<string, unknown> | undefined;
    if (payment === undefined || typeof payment !== 'object' || payment.method !== 'demo') {
      return refuseStep(facts, 'payment:method');
    }
    const url = await asPageUrl(facts, payment.url, 'payment');
    // The same page keeps the same code across polls; the billing URL's own path correlates the payment.
    const code =
      previous?.reason === 'payment' && previous.url === url && previous.code !== undefined
        ? previous.code
        : generateInteractionCode();
    return { status: 'pending', requirement: 'interaction', reason: 'payment', url, code };
  }

  /** A `202`'s step for the agent. */
  async function relayedStep(
    facts: DeliveryFacts,
    response: GuardedResponse,
    requirement: AAuthRequirement | undefined,
  ): Promise<RelayedStep> {
    const body = optionalJson(response);
    const status = body.status === 'interacting' ? 'interacting' : 'pending';
    switch (requirement?.requirement) {
      case undefined:
        return { status };
      case 'interaction': {
        const url = await asPageUrl(facts, requirement.url, 'interaction');
        return { status, requirement: 'interaction', reason: 'interaction', url, code: requirement.code };
      }
      case 'approval':
        return { status, requirement: 'approval' };
      case 'clarification': {
        const question = body.clarification;
        if (typeof question !== 'string' || question.trim() === '') {
          throw new ServerError('The access server asked a clarification without a question.');
        }
        const options = Array.isArray(body.options)
          ? body.options.filter((o): o is string => typeof o === 'string')
          : undefined;
        const timeout = typeof body.timeout === 'number' && body.timeout >= 0 ? body.timeout : undefined;
        return {
          status,
          requirement: 'clarification',
          clarification: question,
          ...(options === undefined ? {} : { options }),
          ...(timeout === undefined ? {} : { deadline: now() + Math.floor(timeout) * 1000 }),
        };
      }
      default:
        // §AS Response names claims, clarification, interaction and approval; anything else cannot proceed.
        return refuseStep(facts, `requirement:${requirement?.requirement}`);
    }
  }

  /**
   * Follows the AS from `response` while the PS can act alone: a token is verified and returned;
   * claims are answered; an immediate retry is taken. Anything else is the state to relay.
   */
  async function follow(
    facts: DeliveryFacts,
    state: FederationState,
    first: GuardedResponse,
    maxExchanges = MAX_EXCHANGES,
  ): Promise<FederationOutcome> {
    let response = first;
    let current = state;
    for (let exchange = 1; ; exchange += 1) {
      if (response.status === 200) {
        const token = await verifyDelivered(facts, parseJson(response));
        await settleBilling(facts, current);
        return { kind: 'issued', token };
      }
      if ((response.status === 429 || response.status === 503) && current.pendingUrl === '') {
        // Refused before any pending URL exists: nothing to come back to.
        terminal(response);
      }
      if (response.status === 429) {
        // slow_down: keep the request, poll less often.
        const retryAfter = Math.min(current.retryAfter + SLOW_DOWN_INCREMENT, MAX_AS_RETRY_AFTER);
        return { kind: 'deferred', state: { ...current, retryAfter } };
      }
      if (response.status === 503) {
        return { kind: 'deferred', state: { ...current, retryAfter: Math.max(retryAfterOf(response), 1) } };
      }
      if (response.status !== 202 && response.status !== 402) terminal(response);
      const location = pendingUrl(response, current.tokenEndpoint, current.pendingUrl || undefined);
      const retryAfter = retryAfterOf(response);
      if (response.status === 402) {
        const step = await paymentStep(facts, response, current.step);
        return {
          kind: 'deferred',
          state: { ...current, pendingUrl: location, retryAfter, step, paymentSeen: true },
        };
      }
      await settleBilling(facts, current);
      current = { ...current, pendingUrl: location, retryAfter, paymentSeen: false };
      const requirement = requirementOf(response);
      if (requirement?.requirement === 'claims') {
        if (current.claimsAnswers >= MAX_CLAIMS_ANSWERS) {
          throw new ServerError('The access server keeps asking for claims.');
        }
        const answer = await claimsAnswer(facts, response);
        current = { ...current, claimsAnswers: current.claimsAnswers + 1, step: { status: 'pending' } };
        response = await send('POST', location, answer);
        if (response.status === 400) {
          throw new ServerError('The access server refused the claims.');
        }
        if (exchange >= maxExchanges) return { kind: 'deferred', state: current };
        continue;
      }
      const step = await relayedStep(facts, response, requirement);
      current = { ...current, step };
      if (step.requirement === undefined && retryAfter === 0 && exchange < maxExchanges) {
        // Being decided, and the AS says ask again at once.
        response = await send('GET', location);
        continue;
      }
      return { kind: 'deferred', state: current };
    }
  }

  /** A `402` answered earlier and the AS has moved on: the billing relationship now exists. */
  async function settleBilling(facts: DeliveryFacts, state: FederationState): Promise<void> {
    if (!state.paymentSeen || deps.billing === undefined) return;
    await deps.billing.record(facts.accessServer, 'demo', new Date(now()));
  }

  return {
    async start(request) {
      let metadata: Record<string, unknown>;
      try {
        metadata = await deps.keys.metadata(request.accessServer, DWK.access);
      } catch (err) {
        if (err instanceof DiscoveryError) {
          // The `aud` publishes no AS metadata this PS can use (§PS-AS Federation), whatever the cause:
          // the resource token is unusable here, and the agent's remedy is a fresh one
          // (docs/spec-decisions.md, *An aud that is not an access server*).
          throw new InvalidResourceToken(
            "The resource token's aud is neither this person server nor an access server it can reach.",
            { cause: err },
          );
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
      const response = await send('POST', endpoint, body);
      const initial: FederationState = {
        tokenEndpoint: endpoint,
        pendingUrl: '',
        retryAfter: 0,
        step: { status: 'pending' },
        claimsAnswers: 0,
        paymentSeen: false,
      };
      return follow(request, initial, response);
    },

    async poll(facts, state) {
      return follow(facts, state, await send('GET', state.pendingUrl));
    },

    async respond(facts, state, text) {
      const response = await send('POST', state.pendingUrl, {
        action: 'clarification_response',
        clarification_response: text,
      });
      if (response.status === 400) {
        // The AS no longer waits for this answer (it moved on, or the answer was refused).
        throw new InvalidRequest('The access server did not accept the clarification response.');
      }
      // The agent resumes polling after its answer (§Clarification Response): what the AS decides
      // is fetched by the next poll, not in this request.
      return follow(facts, { ...state, step: { status: 'pending' } }, response, 1);
    },

    async cancel(state) {
      try {
        const response = await send('DELETE', state.pendingUrl);
        return response.status === 204 || response.status === 200;
      } catch {
        return false;
      }
    },
  };
}
