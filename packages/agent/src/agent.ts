import {
  type AgentTokenClaims,
  type Capability,
  createEgressPolicy,
  createHttpKeyResolver,
  createTokenVerifier,
  DWK,
  decodeJwtUnverified,
  ExpiredResourceToken,
  epochSeconds,
  exportPrivateJwk,
  formatAuthorizationAAuth,
  generateKeyPair,
  type IdentifierPolicy,
  InvalidAgentToken,
  InvalidPersonToken,
  InvalidRequest,
  type IssuerKeyResolver,
  importPrivateJwk,
  isEndpointUrl,
  issueJktJwt,
  jwkThumbprint,
  type KeyPair,
  type PersonServerMetadata,
  parseAAuthAccess,
  parseAAuthRequirement,
  SignatureError,
  type SignatureKeyMember,
  type SigningAlg,
  STRICT,
  serializeAAuthCapabilities,
  serializePreferWait,
  signRequest,
  TOKEN_TYP,
  type TokenVerifier,
  validateMetadata,
} from '@aauth-ref/core';
import { verifyAuthTokenResponse, verifyResourceChallenge } from './challenge.js';
import {
  type ClarificationAnswer,
  type ClarificationPrompt,
  type DeferredHandlers,
  followDeferred,
  type InteractionPrompt,
} from './deferred.js';
import { errorFromResponse, NotEnrolled, RemoteError, UnsupportedRequirement } from './errors.js';
import {
  type AgentEvent,
  createRuntime,
  type FetchLike,
  type Runtime,
  readJsonBody,
  type Sleep,
} from './runtime.js';
import type { AgentStore, CachedToken, StoredEnrollment } from './store.js';

export interface AgentOptions {
  readonly store: AgentStore;
  readonly clock?: Runtime['clock'];
  readonly sleep?: Sleep;
  readonly fetch?: FetchLike;
  readonly onEvent?: (event: AgentEvent) => void;
  /** Algorithm of newly generated keys (default `Ed25519`). */
  readonly alg?: SigningAlg;
  /** `DEV` admits `http://localhost:PORT` identifiers and loopback egress (the local stack). */
  readonly identifierPolicy?: IdentifierPolicy;
  /** Resolves issuer keys to verify resource and auth tokens; default: HTTP discovery with egress admission. */
  readonly keys?: IssuerKeyResolver;
  /** `AAUTH_EGRESS_ALLOW` for the default key resolver. */
  readonly egressAllow?: string;
  /** Capabilities beyond those implied by the callbacks (e.g. `payment`). */
  readonly capabilities?: readonly Capability[];
  /** Brings the person to an interaction URL; its presence declares `interaction`. */
  readonly onInteraction?: (prompt: InteractionPrompt) => void | Promise<void>;
  /** Answers a clarification; its presence declares `clarification`. */
  readonly onClarification?: (
    prompt: ClarificationPrompt,
  ) => ClarificationAnswer | Promise<ClarificationAnswer>;
  /** `Prefer: wait=N` on PS requests and polls. */
  readonly preferWait?: number;
  /** `justification` sent with auth token requests. */
  readonly justification?: string;
  /** The mission person tokens are requested under (`mission_s256`). */
  readonly missionS256?: string;
  /** Refresh the agent token this many seconds before `exp` (default 60). */
  readonly refreshMarginSeconds?: number;
  /** Requirements answered for one call before giving up (default 8). */
  readonly maxRounds?: number;
}

export interface EnrollOptions {
  /** The Person Server to work with (`ps` of the agent tokens); default the AP itself. */
  readonly ps?: string;
  readonly name?: string;
  readonly platform?: string;
  readonly device?: string;
}

export interface AgentIdentity {
  readonly agent: string;
  readonly agent_provider: string;
  readonly ps?: string;
  /** Thumbprint of the durable key enrolled at the AP. */
  readonly durable_jkt: string;
  /** Thumbprint of the current ephemeral key (the agent token's `cnf`). */
  readonly key_thumbprint: string;
  readonly expires_at: number;
}

export interface HeldToken {
  readonly kind: 'agent' | 'person' | 'auth' | 'session';
  readonly resource?: string;
  readonly expires_at?: number;
  readonly claims?: Record<string, unknown>;
}

export type AgentRequestInit = {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
};

/** A request the agent sends: which key signs it and what `Signature-Key` presents. */
interface Credential {
  readonly kind: 'agent' | 'person' | 'auth';
  readonly key: KeyPair;
  readonly token: string;
  readonly sub?: string;
}

const DEFAULT_MARGIN_SECONDS = 60;
const DEFAULT_MAX_ROUNDS = 8;
/** The naming JWT only has to outlive the refresh request. */
const NAMING_JWT_LIFETIME_SECONDS = 300;

function personTokenKey(resource: string, mission: string | undefined): string {
  return mission === undefined ? resource : `${resource}#${mission}`;
}

function tokenField(body: unknown, name: string): string {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  if (typeof value !== 'string' || value === '') throw new InvalidRequest(`The response has no ${name}.`);
  return value;
}

function expiresAt(token: string, body: unknown, now: number): number {
  const { payload } = decodeJwtUnverified(token);
  if (typeof payload.exp === 'number') return payload.exp;
  const expiresIn = (body as Record<string, unknown> | undefined)?.expires_in;
  return now + (typeof expiresIn === 'number' ? expiresIn : 0);
}

function toBytes(body: string | Uint8Array | undefined): Uint8Array | undefined {
  if (body === undefined) return undefined;
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

function lowerCaseHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/**
 * An AAuth agent: its keys and tokens (in an `AgentStore`), enrollment and two-key refresh with its
 * Agent Provider, and a signing `fetch` that answers every requirement a resource or PS raises.
 */
export class Agent {
  private readonly store: AgentStore;
  private readonly runtime: Runtime;
  private readonly options: AgentOptions;
  private readonly policy: IdentifierPolicy;
  private readonly verifier: TokenVerifier;
  private readonly psCapabilities = new Set<Capability>();
  private durable?: KeyPair;
  private ephemeral?: { key: KeyPair; token: string; expiresAt: number; claims: AgentTokenClaims };
  private refreshing?: Promise<Credential>;
  private psMetadata?: { issuer: string; metadata: PersonServerMetadata };

  constructor(options: AgentOptions) {
    this.options = options;
    this.store = options.store;
    this.runtime = createRuntime(options);
    this.policy = options.identifierPolicy ?? STRICT;
    const keys =
      options.keys ??
      createHttpKeyResolver({
        policy: createEgressPolicy({ devMode: this.policy.devMode, allow: options.egressAllow }),
        clock: this.runtime.clock,
      });
    this.verifier = createTokenVerifier({ clock: this.runtime.clock, keys, identifierPolicy: this.policy });
  }

  /** The `AAuth-Capabilities` values: the agent's own ∪ those its PS said it handles (§AAuth-Capabilities). */
  capabilities(): Capability[] {
    const own = new Set<Capability>(this.options.capabilities ?? []);
    if (this.options.onInteraction) own.add('interaction');
    if (this.options.onClarification) own.add('clarification');
    for (const capability of this.psCapabilities) own.add(capability);
    return [...own];
  }

  /** Records capabilities a PS returned (mission approval `capabilities`). */
  addPersonServerCapabilities(capabilities: Iterable<Capability>): void {
    for (const capability of capabilities) this.psCapabilities.add(capability);
  }

  private now(): number {
    return epochSeconds(this.runtime.clock);
  }

  // --- Keys, enrollment, agent token --------------------------------------------------------------

  private async durableKey(create: boolean): Promise<KeyPair | undefined> {
    if (this.durable) return this.durable;
    const stored = await this.store.read('durable-key');
    if (stored) {
      this.durable = importPrivateJwk(stored);
    } else if (create) {
      this.durable = generateKeyPair(this.options.alg ?? 'Ed25519');
      await this.store.write('durable-key', exportPrivateJwk(this.durable));
    }
    return this.durable;
  }

  private hwkMember(key: KeyPair): SignatureKeyMember {
    const { kty, crv, x, y, alg } = key.jwk;
    return { scheme: 'hwk', jwk: { kty, crv, x, ...(y === undefined ? {} : { y }), alg } };
  }

  private async fetchMetadata(issuer: string, dwk: string): Promise<Record<string, unknown>> {
    const url = `${issuer}/.well-known/${dwk}`;
    const response = await this.runtime.fetch(url, { method: 'GET', redirect: 'manual' });
    const body = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, body);
    try {
      return validateMetadata(body, issuer, dwk, this.policy) as unknown as Record<string, unknown>;
    } catch (cause) {
      throw new InvalidRequest(`${url} is not valid ${dwk} metadata.`, { cause });
    }
  }

  /**
   * Enrolls the durable key with an Agent Provider (bootstrap draft, *Web App Enrollment*): `POST
   * enrollment_endpoint` signed with `hwk`, the person approves at the interaction URL, the pending URL
   * is polled with `hwk`; then the first agent token is obtained by two-key refresh.
   */
  async enroll(agentProvider: string, options: EnrollOptions = {}): Promise<AgentIdentity> {
    const metadata = await this.fetchMetadata(agentProvider, DWK.agent);
    const enrollmentEndpoint = metadata.enrollment_endpoint;
    const agentTokenEndpoint = metadata.agent_token_endpoint;
    if (!isEndpointUrl(enrollmentEndpoint, this.policy) || !isEndpointUrl(agentTokenEndpoint, this.policy)) {
      throw new InvalidRequest(
        'The Agent Provider publishes no usable enrollment_endpoint and agent_token_endpoint.',
      );
    }
    const durable = (await this.durableKey(true)) as KeyPair;
    const signatureKey = this.hwkMember(durable);
    const ps = options.ps ?? agentProvider;
    const body = {
      ps,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.platform === undefined ? {} : { platform: options.platform }),
      ...(options.device === undefined ? {} : { device: options.device }),
    };
    this.runtime.emit({
      step: 'enrollment',
      message: `POST ${enrollmentEndpoint} (hwk ${durable.thumbprint})`,
    });
    let response = await this.sendSigned('POST', enrollmentEndpoint, durable, signatureKey, { body });
    if (response.status === 202) {
      response = await followDeferred(
        response,
        enrollmentEndpoint,
        this.deferredHandlers(durable, signatureKey),
        {
          runtime: this.runtime,
          identifierPolicy: this.policy,
        },
      );
    }
    const result = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, result);
    const agent = (result as Record<string, unknown> | undefined)?.agent;
    const enrollment: StoredEnrollment = {
      agent_provider: agentProvider,
      agent_token_endpoint: agentTokenEndpoint,
      enrollment_endpoint: enrollmentEndpoint,
      ps,
      ...(typeof agent === 'string' ? { agent } : {}),
    };
    await this.store.write('enrollment', enrollment);
    this.psMetadata = undefined;
    await this.refreshAgentToken();
    return this.whoami();
  }

  /**
   * Two-key refresh (bootstrap draft, *Two-Key Refresh*): a fresh ephemeral key, a `jkt-s256+jwt`
   * signed by the durable key naming it, the request signed by the ephemeral key. Person and auth
   * tokens bound to the previous key are dropped (they are re-obtained lazily, §Person Token Endpoint).
   */
  async refreshAgentToken(): Promise<void> {
    const enrollment = await this.store.read('enrollment');
    const durable = await this.durableKey(false);
    if (!enrollment || !durable) throw new NotEnrolled();
    const ephemeral = generateKeyPair(durable.alg);
    const jwt = issueJktJwt(durable, ephemeral.jwk, {
      clock: this.runtime.clock,
      lifetimeSeconds: NAMING_JWT_LIFETIME_SECONDS,
    });
    this.runtime.emit({ step: 'agent-token', message: `POST ${enrollment.agent_token_endpoint} (jkt-jwt)` });
    const response = await this.sendSigned(
      'POST',
      enrollment.agent_token_endpoint,
      ephemeral,
      { scheme: 'jkt-jwt', jwt },
      { body: {} },
    );
    const body = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, body);
    const token = tokenField(body, 'agent_token');
    let decoded: ReturnType<typeof decodeJwtUnverified>;
    try {
      decoded = decodeJwtUnverified(token);
    } catch (cause) {
      throw new InvalidAgentToken('The agent token is not a JWT.', { cause });
    }
    const claims = decoded.payload as unknown as AgentTokenClaims;
    if (decoded.header.typ !== TOKEN_TYP.agent)
      throw new InvalidAgentToken('The agent token typ is not aa-agent+jwt.');
    if (claims.iss !== enrollment.agent_provider)
      throw new InvalidAgentToken('The agent token iss is not the Agent Provider.');
    let cnfJkt: string | undefined;
    try {
      cnfJkt = jwkThumbprint(claims.cnf.jwk);
    } catch {
      cnfJkt = undefined;
    }
    if (cnfJkt !== ephemeral.thumbprint)
      throw new InvalidAgentToken('The agent token cnf.jwk is not the new ephemeral key.');
    const expires = expiresAt(token, body, this.now());
    await this.store.write('ephemeral-key', exportPrivateJwk(ephemeral));
    await this.store.write('agent-token', { agent_token: token, expires_at: expires });
    this.ephemeral = { key: ephemeral, token, expiresAt: expires, claims };
    this.runtime.emit({
      step: 'agent-token',
      message: `agent ${claims.sub}, key ${ephemeral.thumbprint}, exp ${expires}`,
    });
  }

  private async loadEphemeral(): Promise<void> {
    if (this.ephemeral) return;
    const [key, token] = await Promise.all([
      this.store.read('ephemeral-key'),
      this.store.read('agent-token'),
    ]);
    if (!key || !token) return;
    const claims = decodeJwtUnverified(token.agent_token).payload as unknown as AgentTokenClaims;
    this.ephemeral = {
      key: importPrivateJwk(key),
      token: token.agent_token,
      expiresAt: token.expires_at,
      claims,
    };
  }

  /** The agent token credential, refreshed first when it is within the margin of `exp`. */
  private async agentCredential(forceRefresh = false): Promise<Credential> {
    await this.loadEphemeral();
    const margin = this.options.refreshMarginSeconds ?? DEFAULT_MARGIN_SECONDS;
    const current = this.ephemeral;
    if (!forceRefresh && current && current.expiresAt - margin > this.now()) {
      return { kind: 'agent', key: current.key, token: current.token };
    }
    this.refreshing ??= this.refreshAgentToken()
      .then(() => {
        const fresh = this.ephemeral!;
        return { kind: 'agent' as const, key: fresh.key, token: fresh.token };
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  async whoami(): Promise<AgentIdentity> {
    const enrollment = await this.store.read('enrollment');
    const durable = await this.durableKey(false);
    if (!enrollment || !durable) throw new NotEnrolled();
    const credential = await this.agentCredential();
    const claims = this.ephemeral!.claims;
    return {
      agent: claims.sub,
      agent_provider: claims.iss,
      ...(claims.ps === undefined
        ? enrollment.ps === undefined
          ? {}
          : { ps: enrollment.ps }
        : { ps: claims.ps }),
      durable_jkt: durable.thumbprint,
      key_thumbprint: credential.key.thumbprint,
      expires_at: this.ephemeral!.expiresAt,
    };
  }

  /** Every token held, decoded (signatures not checked): `aauth token show`. */
  async tokens(): Promise<HeldToken[]> {
    const held: HeldToken[] = [];
    const decode = (token: string) => decodeJwtUnverified(token).payload;
    const agent = await this.store.read('agent-token');
    if (agent) held.push({ kind: 'agent', expires_at: agent.expires_at, claims: decode(agent.agent_token) });
    for (const [key, cached] of Object.entries((await this.store.read('person-tokens')) ?? {})) {
      held.push({
        kind: 'person',
        resource: key,
        expires_at: cached.expires_at,
        claims: decode(cached.token),
      });
    }
    for (const [resource, cached] of Object.entries((await this.store.read('auth-tokens')) ?? {})) {
      held.push({ kind: 'auth', resource, expires_at: cached.expires_at, claims: decode(cached.token) });
    }
    for (const resource of Object.keys((await this.store.read('sessions')) ?? {})) {
      held.push({ kind: 'session', resource });
    }
    return held;
  }

  /** Forgets keys and tokens. */
  async logout(): Promise<void> {
    await this.store.clear();
    this.durable = undefined;
    this.ephemeral = undefined;
    this.psMetadata = undefined;
  }

  // --- Signing ----------------------------------------------------------------------------------

  /**
   * Signs and sends one request under the profile (§Signing (Agent)); `content-digest` for a body,
   * `authorization` when `Authorization: AAuth` is sent. Redirects are not followed: the signature
   * covers the authority and path.
   */
  private async sendSigned(
    method: string,
    url: string,
    key: KeyPair,
    signatureKey: SignatureKeyMember,
    request: { body?: unknown; raw?: Uint8Array; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers = lowerCaseHeaders(request.headers);
    let body = request.raw;
    if (request.body !== undefined) {
      body = Buffer.from(JSON.stringify(request.body), 'utf8');
      headers['content-type'] = 'application/json';
    }
    if (body !== undefined && body.length > 0 && headers['content-type'] === undefined) {
      headers['content-type'] = 'application/octet-stream';
    }
    const signed = signRequest(
      { method, url, headers, ...(body === undefined ? {} : { body }) },
      {
        key,
        signatureKey,
        clock: this.runtime.clock,
      },
    );
    Object.assign(headers, signed);
    return this.runtime.fetch(url, {
      method,
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
  }

  private sendWith(
    credential: Credential,
    method: string,
    url: string,
    request: Parameters<Agent['sendSigned']>[4] = {},
  ) {
    return this.sendSigned(method, url, credential.key, { scheme: 'jwt', jwt: credential.token }, request);
  }

  private deferredHandlers(key: KeyPair, signatureKey: SignatureKeyMember): DeferredHandlers {
    return {
      send: (method, url, body, headers) =>
        this.sendSigned(method, url, key, signatureKey, {
          ...(body === undefined ? {} : { body }),
          ...(headers ? { headers } : {}),
        }),
      ...(this.options.onInteraction ? { onInteraction: this.options.onInteraction } : {}),
      ...(this.options.onClarification ? { onClarification: this.options.onClarification } : {}),
    };
  }

  // --- Person Server ----------------------------------------------------------------------------

  private async personServer(): Promise<{ issuer: string; metadata: PersonServerMetadata }> {
    await this.agentCredential();
    const ps = this.ephemeral?.claims.ps ?? (await this.store.read('enrollment'))?.ps;
    if (ps === undefined)
      throw new UnsupportedRequirement(401, 'person-token', 'The agent has no Person Server.');
    if (this.psMetadata?.issuer !== ps) {
      const metadata = (await this.fetchMetadata(ps, DWK.person)) as unknown as PersonServerMetadata;
      this.psMetadata = { issuer: ps, metadata };
    }
    return this.psMetadata;
  }

  /** A signed POST to a PS endpoint with the agent token, followed through any deferred response. */
  private async postToPersonServer(url: string, body: Record<string, unknown>): Promise<unknown> {
    const capabilities = this.capabilities();
    // §AAuth-Capabilities: on PS endpoints the values travel in the `capabilities` member, not the header.
    const payload = capabilities.length > 0 ? { ...body, capabilities } : body;
    const headers: Record<string, string> =
      this.options.preferWait === undefined ? {} : { prefer: serializePreferWait(this.options.preferWait) };
    const credential = await this.agentCredential();
    let response = await this.sendWith(credential, 'POST', url, { body: payload, headers });
    if (response.status === 202) {
      response = await followDeferred(
        response,
        url,
        this.deferredHandlers(credential.key, { scheme: 'jwt', jwt: credential.token }),
        {
          runtime: this.runtime,
          identifierPolicy: this.policy,
          ...(this.options.preferWait === undefined ? {} : { preferWait: this.options.preferWait }),
        },
      );
    }
    const result = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, result);
    return result;
  }

  private async cached(
    entry: 'person-tokens' | 'auth-tokens',
    key: string,
    jkt: string,
  ): Promise<CachedToken | undefined> {
    const cached = (await this.store.read(entry))?.[key];
    if (!cached || cached.jkt !== jkt || cached.expires_at <= this.now()) return undefined;
    return cached;
  }

  private async remember(
    entry: 'person-tokens' | 'auth-tokens',
    key: string,
    token: CachedToken | undefined,
  ): Promise<void> {
    const all = { ...((await this.store.read(entry)) ?? {}) };
    if (token === undefined) delete all[key];
    else all[key] = token;
    await this.store.write(entry, all);
  }

  /** §Person Token Endpoint: a person token for `resource` (and the mission), cached until `exp`. */
  private async obtainPersonToken(resource: string): Promise<CachedToken> {
    const { metadata } = await this.personServer();
    const credential = await this.agentCredential();
    const mission = this.options.missionS256;
    this.runtime.emit({
      step: 'person-token',
      message: `POST ${metadata.person_token_endpoint} for ${resource}`,
    });
    const body = await this.postToPersonServer(metadata.person_token_endpoint, {
      resource,
      ...(mission === undefined ? {} : { mission_s256: mission }),
    });
    const token = tokenField(body, 'person_token');
    const { header, payload } = decodeJwtUnverified(token);
    const cnf = (payload.cnf as { jwk?: unknown } | undefined)?.jwk;
    let jkt: string | undefined;
    try {
      jkt = cnf === undefined ? undefined : jwkThumbprint(cnf as Parameters<typeof jwkThumbprint>[0]);
    } catch {
      jkt = undefined;
    }
    if (header.typ !== TOKEN_TYP.person || payload.aud !== resource || jkt !== credential.key.thumbprint) {
      throw new InvalidPersonToken('The PS returned a person token for another resource or key.');
    }
    const cached: CachedToken = {
      token,
      expires_at: expiresAt(token, body, this.now()),
      jkt,
      ...(typeof payload.sub === 'string' ? { sub: payload.sub } : {}),
    };
    await this.remember('person-tokens', personTokenKey(resource, mission), cached);
    return cached;
  }

  /**
   * `requirement=auth-token`: §Resource Challenge Verification (nothing reaches the PS unless it
   * passes), the exchange at `auth_token_endpoint`, §Auth Token Response Verification, then the cache.
   */
  private async obtainAuthToken(
    resource: string,
    resourceToken: string,
    presentedSub: string | undefined,
  ): Promise<void> {
    const { issuer, metadata } = await this.personServer();
    const credential = await this.agentCredential();
    const claims = await verifyResourceChallenge(resourceToken, {
      resource,
      agentJkt: credential.key.thumbprint,
      ps: issuer,
      ...(presentedSub === undefined ? {} : { presentedSub }),
      now: this.now(),
      verifier: this.verifier,
    });
    this.runtime.emit({
      step: 'auth-token',
      message: `POST ${metadata.auth_token_endpoint} (scope ${claims.scope ?? '—'})`,
    });
    const body = await this.postToPersonServer(metadata.auth_token_endpoint, {
      resource_token: resourceToken,
      ...(this.options.justification === undefined ? {} : { justification: this.options.justification }),
    });
    const token = tokenField(body, 'auth_token');
    const verified = await verifyAuthTokenResponse(token, {
      resourceToken: claims,
      resource,
      agentJkt: credential.key.thumbprint,
      verifier: this.verifier,
    });
    await this.remember('auth-tokens', resource, {
      token,
      expires_at: typeof verified.exp === 'number' ? verified.exp : expiresAt(token, body, this.now()),
      jkt: credential.key.thumbprint,
      sub: verified.sub,
    });
  }

  // --- Resources ----------------------------------------------------------------------------------

  /** The strongest credential held for the resource: auth token, person token, else the agent token. */
  private async resourceCredential(resource: string, agentOnly: boolean): Promise<Credential> {
    const agent = await this.agentCredential();
    if (agentOnly) return agent;
    const jkt = agent.key.thumbprint;
    const auth = await this.cached('auth-tokens', resource, jkt);
    if (auth)
      return { kind: 'auth', key: agent.key, token: auth.token, ...(auth.sub ? { sub: auth.sub } : {}) };
    const person = await this.cached(
      'person-tokens',
      personTokenKey(resource, this.options.missionS256),
      jkt,
    );
    if (person)
      return {
        kind: 'person',
        key: agent.key,
        token: person.token,
        ...(person.sub ? { sub: person.sub } : {}),
      };
    return agent;
  }

  private async captureSession(resource: string, response: Response): Promise<void> {
    const value = response.headers.get('aauth-access');
    if (value === null) return;
    const token = parseAAuthAccess(value);
    if (token === undefined) return;
    const sessions = { ...((await this.store.read('sessions')) ?? {}) };
    if (sessions[resource] === token) return;
    this.runtime.emit({
      step: 'session-token',
      message: sessions[resource] ? 'session token rolled' : 'session token stored',
    });
    sessions[resource] = token;
    await this.store.write('sessions', sessions);
  }

  private async forgetSession(resource: string): Promise<void> {
    const sessions = { ...((await this.store.read('sessions')) ?? {}) };
    delete sessions[resource];
    await this.store.write('sessions', sessions);
  }

  /**
   * The signing `fetch` (§Consuming a Resource End to End: "make the request, read any
   * AAuth-Requirement, satisfy it … and retry"). Returns the resource's final response; throws a
   * typed error for every protocol failure and for requirements it cannot satisfy.
   */
  async fetch(url: string, init: AgentRequestInit = {}): Promise<Response> {
    const resource = new URL(url).origin;
    const method = (init.method ?? 'GET').toUpperCase();
    const raw = toBytes(init.body);
    const baseHeaders = lowerCaseHeaders(init.headers);
    const maxRounds = this.options.maxRounds ?? DEFAULT_MAX_ROUNDS;
    let agentOnly = false;
    let sessionRetried = false;
    let expiredRetried = false;

    for (let round = 0; round < maxRounds; round += 1) {
      const credential = await this.resourceCredential(resource, agentOnly);
      const headers = { ...baseHeaders };
      const capabilities = this.capabilities();
      if (capabilities.length > 0) headers['aauth-capabilities'] = serializeAAuthCapabilities(capabilities);
      const session = (await this.store.read('sessions'))?.[resource];
      if (session !== undefined && headers.authorization === undefined)
        headers.authorization = formatAuthorizationAAuth(session);
      this.runtime.emit({
        step: 'request',
        message: `${method} ${url} (${credential.kind} token${session ? ', session token' : ''})`,
      });
      const response = await this.sendWith(credential, method, url, {
        ...(raw === undefined ? {} : { raw }),
        headers,
      });
      this.runtime.emit({ step: 'response', message: `${response.status}` });
      await this.captureSession(resource, response);

      if (response.status === 202) return this.completeDeferred(resource, response, url);
      if (response.status !== 401) return response;

      const requirementHeader = response.headers.get('aauth-requirement');
      if (requirementHeader === null) {
        const error = errorFromResponse(401, response.headers, await readJsonBody(response));
        // A session token the resource no longer knows: discard it and retry without (README, *Session tokens*).
        if (error instanceof SignatureError && session !== undefined && !sessionRetried) {
          sessionRetried = true;
          await this.forgetSession(resource);
          continue;
        }
        if (
          error instanceof SignatureError &&
          (error.error === 'invalid_jwt' || error.error === 'expired_jwt')
        ) {
          if (credential.kind === 'auth') {
            await this.remember('auth-tokens', resource, undefined);
            continue;
          }
          if (credential.kind === 'person') {
            await this.remember(
              'person-tokens',
              personTokenKey(resource, this.options.missionS256),
              undefined,
            );
            continue;
          }
          if (error.error === 'expired_jwt' && !expiredRetried) {
            expiredRetried = true;
            await this.agentCredential(true);
            continue;
          }
        }
        throw error;
      }
      await response.body?.cancel();
      const requirement = parseAAuthRequirement(requirementHeader, this.policy);
      this.runtime.emit({
        step: 'requirement',
        message:
          requirement?.requirement === 'unknown' ? requirement.value : (requirement?.requirement ?? 'none'),
      });
      switch (requirement?.requirement) {
        case 'agent-token':
          // §Agent Token Required: retry presenting the agent token; asked again, it is refused.
          if (credential.kind === 'agent')
            throw new UnsupportedRequirement(401, 'agent-token', 'The resource refused the agent token.');
          agentOnly = true;
          continue;
        case 'person-token':
          if (credential.kind === 'person')
            throw new UnsupportedRequirement(401, 'person-token', 'The resource refused the person token.');
          agentOnly = false;
          await this.obtainPersonToken(resource);
          continue;
        case 'auth-token':
          agentOnly = false;
          try {
            await this.obtainAuthToken(resource, requirement['resource-token'], credential.sub);
          } catch (err) {
            // The resource token expired before the PS used it: ask the resource again for a fresh one.
            if (err instanceof ExpiredResourceToken && !expiredRetried) {
              expiredRetried = true;
              continue;
            }
            throw err;
          }
          continue;
        case 'unknown':
          throw new UnsupportedRequirement(401, requirement.value);
        default:
          throw new UnsupportedRequirement(401, requirement?.requirement ?? 'none');
      }
    }
    throw new RemoteError(
      401,
      'too_many_requirements',
      `The resource kept raising requirements after ${maxRounds} rounds.`,
    );
  }

  /** A resource's `202`: poll its pending URL, answering what it raises, presenting an auth token once held. */
  private async completeDeferred(resource: string, first: Response, url: string): Promise<Response> {
    const handlers: DeferredHandlers = {
      send: async (method, pendingUrl, body, headers) => {
        const credential = await this.resourceCredential(resource, false);
        const session = (await this.store.read('sessions'))?.[resource];
        const all = { ...(headers ?? {}) };
        if (session !== undefined) all.authorization = formatAuthorizationAAuth(session);
        const response = await this.sendWith(credential, method, pendingUrl, {
          ...(body === undefined ? {} : { body }),
          headers: all,
        });
        await this.captureSession(resource, response);
        return response;
      },
      onAuthToken: async (resourceToken) => {
        const credential = await this.resourceCredential(resource, false);
        await this.obtainAuthToken(resource, resourceToken, credential.sub);
      },
      ...(this.options.onInteraction ? { onInteraction: this.options.onInteraction } : {}),
      ...(this.options.onClarification ? { onClarification: this.options.onClarification } : {}),
    };
    return followDeferred(first, url, handlers, {
      runtime: this.runtime,
      identifierPolicy: this.policy,
      ...(this.options.preferWait === undefined ? {} : { preferWait: this.options.preferWait }),
    });
  }
}

export function createAgent(options: AgentOptions): Agent {
  return new Agent(options);
}

/** The signing fetch alone: `(url, init) => Promise<Response>`. */
export function createAgentFetch(
  options: AgentOptions,
): (url: string, init?: AgentRequestInit) => Promise<Response> {
  const agent = new Agent(options);
  return (url, init) => agent.fetch(url, init);
}
