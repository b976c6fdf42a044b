import {
  type AAuthRequirement,
  type AuthTokenClaims,
  type Capability,
  type Clock,
  DWK,
  decodeJwtUnverified,
  type IdentifierPolicy,
  InvalidRequest,
  isEndpointUrl,
  type KeyPair,
  type PersonServerMetadata,
  parseAAuthRequirement,
  parseRetryAfter,
  type ResourceTokenClaims,
  signRequest,
  type TokenVerifier,
  validateMetadata,
} from '@aauth-ref/core';
import { verifyAuthTokenResponse, verifyResourceChallenge } from './challenge.js';
import { DEFAULT_POLL_SECONDS } from './deferred.js';
import { AgentError, errorFromResponse } from './errors.js';
import { checkPersonToken, PersonTokenMismatch } from './mission.js';
import { type FetchLike, readJsonBody } from './runtime.js';

/**
 * The minimal agent a resource needs to call a downstream resource in call chaining (§Call
 * Chaining): it signs with its own key and its own agent token, obtains a person token for the
 * downstream resource and then an auth token from the person's PS (both with `upstream_token`), and
 * reports a PS `202` as a step the caller resumes later by polling once — a server cannot sit waiting
 * for a person, so nothing here sleeps (§Interaction Chaining).
 */

/** The chaining agent's credential: its signing key and the agent token whose `cnf.jwk` it is. */
export interface ChainingIdentity {
  readonly key: KeyPair;
  readonly agentToken: string;
}

export interface ChainingClientOptions {
  /** Current identity; called before each signed request (so a refreshed agent token is used at once). */
  readonly identity: () => ChainingIdentity | Promise<ChainingIdentity>;
  /** Outbound HTTP (through egress admission in a server). */
  readonly fetch: FetchLike;
  readonly clock: Clock;
  readonly identifierPolicy: IdentifierPolicy;
  /** Verifies resource and auth token signatures (RECOMMENDED, §Auth Token Response Verification). */
  readonly verifier?: TokenVerifier;
}

/** A PS answer: the token, or a pending URL to poll later (with the requirement the PS raised). */
export type TokenStep =
  | { readonly kind: 'token'; readonly token: string }
  | {
      readonly kind: 'pending';
      /** Absolute pending URL on the PS's origin. */
      readonly location: string;
      readonly retryAfter: number;
      readonly requirement?: AAuthRequirement;
      /** `pending` or `interacting` (§Pending Response). */
      readonly status: string;
    };

/** A downstream answer: served, or an `auth-token` challenge with its checked resource token. */
export type ResourceStep =
  | { readonly kind: 'served'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'auth-token'; readonly resourceToken: string; readonly claims: ResourceTokenClaims };

export interface ChainTokenRequest {
  /** The auth token the caller presented upstream (§Upstream Token Verification). */
  readonly upstreamToken: string;
  /** What the caller can handle (forwarded as `capabilities`, §PS Token Endpoint). */
  readonly capabilities?: readonly Capability[];
}

/**
 * A PS answered `200` with something that is not a token response (§Person Token Endpoint, §PS
 * Token Endpoint: a JSON object carrying the token): not JSON, not `application/json`, too large,
 * without the token member, or a token that fails the agent's checks. Not the PS's decision about
 * the request, so never mistaken for one of its refusals.
 */
export class MalformedAnswer extends AgentError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(502, 'malformed_answer', detail, options);
  }
}

/** A token response is a few kilobytes; a larger body is refused before it is parsed. */
export const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;

/** The JSON object of a `200` token response, or `MalformedAnswer` naming what is wrong. */
async function readTokenAnswer(response: Response): Promise<Record<string, unknown>> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    await response.body?.cancel();
    throw new MalformedAnswer(`The answer is ${type === '' ? 'untyped' : type}, not application/json.`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_TOKEN_ANSWER_BYTES) {
    await response.body?.cancel();
    throw new MalformedAnswer(`The answer is larger than ${MAX_TOKEN_ANSWER_BYTES} bytes.`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_TOKEN_ANSWER_BYTES) {
    throw new MalformedAnswer(`The answer is larger than ${MAX_TOKEN_ANSWER_BYTES} bytes.`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new MalformedAnswer('The answer is not JSON.', { cause });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedAnswer('The answer is not a JSON object.');
  }
  return body as Record<string, unknown>;
}

function stringMember(body: unknown, name: string): string | undefined {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export class ChainingClient {
  private readonly options: ChainingClientOptions;
  private readonly metadata = new Map<string, PersonServerMetadata>();

  constructor(options: ChainingClientOptions) {
    this.options = options;
  }

  /** `{ps}/.well-known/aauth-person.json`, validated and cached per PS. */
  async personServer(ps: string): Promise<PersonServerMetadata> {
    const cached = this.metadata.get(ps);
    if (cached) return cached;
    const url = `${ps}/.well-known/${DWK.person}`;
    const response = await this.options.fetch(url, { method: 'GET', redirect: 'manual' });
    const body = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, body);
    let metadata: PersonServerMetadata;
    try {
      metadata = validateMetadata(
        body,
        ps,
        DWK.person,
        this.options.identifierPolicy,
      ) as unknown as PersonServerMetadata;
    } catch (cause) {
      throw new InvalidRequest(`${url} is not valid Person Server metadata.`, { cause });
    }
    for (const endpoint of [metadata.person_token_endpoint, metadata.auth_token_endpoint]) {
      if (!isEndpointUrl(endpoint, this.options.identifierPolicy)) {
        throw new InvalidRequest(`${ps} publishes no usable person_token_endpoint and auth_token_endpoint.`);
      }
    }
    this.metadata.set(ps, metadata);
    return metadata;
  }

  /** A request signed with the chaining key; `Signature-Key` presents `token` (default: the agent token). */
  async send(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    options: {
      readonly token?: string;
      readonly body?: unknown;
      readonly headers?: Record<string, string>;
    } = {},
  ): Promise<Response> {
    const identity = await this.options.identity();
    const headers: Record<string, string> = { ...options.headers };
    let body: Buffer | undefined;
    if (options.body !== undefined) {
      body = Buffer.from(JSON.stringify(options.body), 'utf8');
      headers['content-type'] = 'application/json';
    }
    const signed = signRequest(
      { method, url, headers, ...(body === undefined ? {} : { body }) },
      {
        key: identity.key,
        signatureKey: { scheme: 'jwt', jwt: options.token ?? identity.agentToken },
        clock: this.options.clock,
      },
    );
    return this.options.fetch(url, {
      method,
      headers: { ...headers, ...signed },
      ...(body === undefined ? {} : { body }),
      redirect: 'manual',
    });
  }

  /** §Person Token Endpoint with `upstream_token`: a person token for `resource`, for the upstream person. */
  async requestPersonToken(ps: string, resource: string, request: ChainTokenRequest): Promise<TokenStep> {
    const { person_token_endpoint: endpoint } = await this.personServer(ps);
    const response = await this.send('POST', endpoint, {
      body: { resource, upstream_token: request.upstreamToken, ...this.capabilitiesMember(request) },
    });
    return this.tokenStep(response, endpoint, 'person_token');
  }

  /** §PS Token Endpoint with `upstream_token` (§Call Chaining): the downstream resource token exchanged. */
  async requestAuthToken(ps: string, resourceToken: string, request: ChainTokenRequest): Promise<TokenStep> {
    const { auth_token_endpoint: endpoint } = await this.personServer(ps);
    const response = await this.send('POST', endpoint, {
      body: {
        resource_token: resourceToken,
        upstream_token: request.upstreamToken,
        ...this.capabilitiesMember(request),
      },
    });
    return this.tokenStep(response, endpoint, 'auth_token');
  }

  /** One poll of a PS pending URL (§Polling with GET); `member` names the token the result carries. */
  async poll(location: string, member: 'person_token' | 'auth_token'): Promise<TokenStep> {
    return this.tokenStep(await this.send('GET', location), location, member);
  }

  /**
   * Calls the downstream resource presenting `token` (a person or auth token bound to the chaining
   * key). A `401 requirement=auth-token` is checked per §Resource Challenge Verification against the
   * person `(ps, sub)` and this key before it is returned.
   */
  async callResource(
    url: string,
    token: string,
    expected: { readonly ps: string; readonly sub?: string },
  ): Promise<ResourceStep> {
    const response = await this.send('GET', url, { token });
    const body = await readJsonBody(response);
    if (response.status === 401 && response.headers.has('aauth-requirement')) {
      const requirement = parseAAuthRequirement(
        response.headers.get('aauth-requirement') ?? undefined,
        this.options.identifierPolicy,
      );
      if (requirement?.requirement === 'auth-token') {
        const identity = await this.options.identity();
        const resourceToken = requirement['resource-token'];
        const claims = await verifyResourceChallenge(resourceToken, {
          resource: new URL(url).origin,
          agentJkt: identity.key.thumbprint,
          ps: expected.ps,
          ...(expected.sub === undefined ? {} : { presentedSub: expected.sub }),
          now: Math.floor(this.options.clock.now() / 1000),
          ...(this.options.verifier ? { verifier: this.options.verifier } : {}),
        });
        return { kind: 'auth-token', resourceToken, claims };
      }
    }
    if (response.status >= 400) throw errorFromResponse(response.status, response.headers, body);
    return { kind: 'served', status: response.status, body };
  }

  /** §Auth Token Response Verification for an auth token obtained for `resource`. */
  async checkAuthToken(
    authToken: string,
    resource: string,
    resourceToken: ResourceTokenClaims,
  ): Promise<AuthTokenClaims> {
    const identity = await this.options.identity();
    return verifyAuthTokenResponse(authToken, {
      resourceToken,
      resource,
      agentJkt: identity.key.thumbprint,
      ...(this.options.verifier ? { verifier: this.options.verifier } : {}),
    });
  }

  /**
   * A person token `ps` returned for `resource`, checked before it is presented there (typ, iss, aud,
   * `cnf` = the chaining key, `mission_s256` = the upstream token's, and the signature when a verifier
   * is given): one that fails is the PS's malformed answer (`MalformedAnswer`), not something to show
   * the downstream resource.
   */
  async checkPersonToken(
    personToken: string,
    expected: { readonly ps: string; readonly resource: string; readonly missionS256?: string },
  ): Promise<void> {
    const identity = await this.options.identity();
    try {
      await checkPersonToken(personToken, {
        ...expected,
        jkt: identity.key.thumbprint,
        ...(this.options.verifier ? { verifier: this.options.verifier } : {}),
      });
    } catch (cause) {
      if (cause instanceof PersonTokenMismatch) throw new MalformedAnswer(cause.message, { cause });
      throw cause;
    }
  }

  /** `sub` of a person token the PS returned (the downstream-directed identifier). */
  static subjectOf(personToken: string): string | undefined {
    try {
      const sub = decodeJwtUnverified(personToken).payload.sub;
      return typeof sub === 'string' ? sub : undefined;
    } catch {
      return undefined;
    }
  }

  private capabilitiesMember(request: ChainTokenRequest): { capabilities?: Capability[] } {
    return request.capabilities === undefined ? {} : { capabilities: [...request.capabilities] };
  }

  private async tokenStep(response: Response, requestUrl: string, member: string): Promise<TokenStep> {
    if (response.status === 200) {
      const token = stringMember(await readTokenAnswer(response), member);
      if (token === undefined) throw new MalformedAnswer(`The Person Server's answer has no ${member}.`);
      return { kind: 'token', token };
    }
    const body = await readJsonBody(response);
    if (response.status !== 202) throw errorFromResponse(response.status, response.headers, body);
    const locationHeader = response.headers.get('location');
    if (locationHeader === null) throw new InvalidRequest('A 202 response has no Location.');
    let location: URL;
    try {
      location = new URL(locationHeader, requestUrl);
    } catch (cause) {
      throw new InvalidRequest('A 202 response has a malformed Location.', { cause });
    }
    // §Pending Response: "The Location URL MUST be on the same origin as the responding server."
    if (location.origin !== new URL(requestUrl).origin) {
      throw new InvalidRequest('A 202 Location is not on the origin of the server that answered.');
    }
    const requirement = parseAAuthRequirement(
      response.headers.get('aauth-requirement') ?? undefined,
      this.options.identifierPolicy,
    );
    return {
      kind: 'pending',
      location: location.href,
      retryAfter:
        parseRetryAfter(response.headers.get('retry-after') ?? undefined, this.options.clock) ??
        DEFAULT_POLL_SECONDS,
      ...(requirement === undefined ? {} : { requirement }),
      status: stringMember(body, 'status') ?? 'pending',
    };
  }
}
