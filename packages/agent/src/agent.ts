import {
  type AgentTokenClaims,
  type AuthTokenClaims,
  type Capability,
  createEgressPolicy,
  createHttpKeyResolver,
  createTokenVerifier,
  DWK,
  decodeJwtUnverified,
  Expired,
  ExpiredResourceToken,
  epochSeconds,
  exportPrivateJwk,
  formatAuthorizationAAuth,
  generateKeyPair,
  type IdentifierPolicy,
  InteractionUnavailable,
  InvalidAgentToken,
  InvalidPersonToken,
  InvalidRequest,
  type IssuerKeyResolver,
  importPrivateJwk,
  isEndpointUrl,
  issueJktJwt,
  jwkThumbprint,
  type KeyPair,
  MissionTerminated,
  type PersonServerMetadata,
  parseAAuthAccess,
  parseAAuthRequirement,
  parseAgentIdentifier,
  type ResourceMetadata,
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
import {
  errorFromResponse,
  NotEnrolled,
  RemoteError,
  SubAgentRefused,
  UnsupportedRequirement,
} from './errors.js';
import {
  checkPersonToken,
  type MissionProposal,
  PersonTokenMismatch,
  terminatedError,
  terminationOf,
  verifyApproval,
} from './mission.js';
import {
  type AccessMode,
  classifyAuthToken,
  type GrantKind,
  type R3Invocation,
  type R3Operation,
  r3ClaimLists,
  readR3Operations,
} from './r3.js';
import {
  type AgentEvent,
  createRuntime,
  type FetchLike,
  type Runtime,
  readJsonBody,
  type Sleep,
} from './runtime.js';
import type {
  AgentStore,
  CachedToken,
  Mission,
  StoredEnrollment,
  StoredMissions,
  StoredSubAgent,
} from './store.js';

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
  /**
   * The mission the agent works under (`mission_s256` of person token requests and relays); see
   * `useMission`. Its approval `capabilities` join the agent's own.
   */
  readonly missionS256?: string;
  /**
   * `max_wait` of an interaction relayed through the PS (§Interaction Request): how long the PS may
   * try its own channel before the agent directs the person itself (default 60 s).
   */
  readonly relayMaxWaitSeconds?: number;
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
  /** Aborts the request (an MCP host closing its transport, a caller's timeout). */
  readonly signal?: AbortSignal;
  /**
   * The R3 operations the request invokes, as the vocabulary describes them: lets the agent tell a
   * per-call auth token (used for this one call, never cached) from a grant to keep (§Per-Call Proposals).
   */
  readonly invocation?: R3Invocation;
  /**
   * Present a held auth token, else the agent token, but not a person token, until the resource asks
   * for one (`401 requirement=person-token`): for a request that needs no person (§Person Token
   * Exposure; docs/spec-decisions.md, *MCP: the person token only where the person is needed*).
   */
  readonly withoutPersonToken?: boolean;
};

/** What `prepareCredential` plans for (R3 §Operation Access Annotations). */
export interface CredentialPlan {
  readonly accessMode: AccessMode | undefined;
  /** The operation about to be called, in the resource's vocabulary. */
  readonly vocabulary?: string;
  readonly operation?: R3Operation;
}

/** What `prepareCredential` did: which credential the first call will present. */
export interface PreparedCredential {
  readonly kind: 'agent' | 'person' | 'auth';
  /** `held`: already enough; `obtained`: fetched now; `deferred`: left to the resource's challenge. */
  readonly outcome: 'held' | 'obtained' | 'deferred';
  readonly detail?: string;
}

/** A request the agent sends: which key signs it and what `Signature-Key` presents. */
interface Credential {
  readonly kind: 'agent' | 'person' | 'auth';
  readonly key: KeyPair;
  readonly token: string;
  readonly sub?: string;
}

/** An auth token the PS issued and the agent verified (§Auth Token Response Verification). */
interface ObtainedAuthToken {
  readonly token: string;
  readonly key: KeyPair;
  readonly claims: AuthTokenClaims;
  readonly cached: CachedToken;
}

/** A sub-agent as its parent describes it (§Sub-Agents). */
export interface SubAgentIdentity {
  readonly name: string;
  readonly agent: string;
  readonly parent_agent: string;
  readonly key_thumbprint: string;
  readonly expires_at: number;
}

/** A sub-agent's own signing `fetch`; its parent obtains its person and auth tokens. */
export interface SubAgent {
  readonly name: string;
  identity(): Promise<SubAgentIdentity>;
  fetch(url: string, init?: AgentRequestInit): Promise<Response>;
}

/** The result of a completion the person accepted (§Mission Completion). */
export interface MissionCompletion {
  readonly s256: string;
  readonly mission_status: string;
  readonly termination_reason?: string;
}

/** §Sub-Agent Identity: the discriminator after `+` (the AP's demo accepts this alphabet). */
const SUBAGENT_NAME = /^[a-z0-9._-]{1,64}$/;

const DEFAULT_MARGIN_SECONDS = 60;
const DEFAULT_MAX_ROUNDS = 8;
const DEFAULT_RELAY_MAX_WAIT_SECONDS = 60;
/** The naming JWT only has to outlive the refresh request. */
const NAMING_JWT_LIFETIME_SECONDS = 300;

/** Cache keys: per resource, per mission (person tokens), per signer (the agent or a sub-agent). */
function personTokenKey(resource: string, mission: string | undefined, subagent?: string): string {
  return `${resource}${mission === undefined ? '' : `#${mission}`}${subagent === undefined ? '' : ` as ${subagent}`}`;
}

function signerKey(resource: string, subagent: string | undefined): string {
  return subagent === undefined ? resource : `${resource} as ${subagent}`;
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

/**
 * Whether the auth token held covers the planned operation: its `r3_granted` lists it (for a
 * `per-call` operation, `r3_per_call` too: the per-call grant comes from the call's challenge). A
 * token without R3 claims says nothing about operations; the resource decides at the call.
 */
function authTokenCovers(token: string, plan: CredentialPlan): boolean {
  const claims = decodeJwtUnverified(token).payload;
  if (plan.vocabulary === undefined || plan.operation === undefined) return true;
  if (claims.r3_granted === undefined && claims.r3_per_call === undefined) return true;
  return grantNames(claims, plan);
}

/** Whether the R3 claims grant the planned operation (for `per-call`, in principle: `r3_per_call`). */
function grantNames(claims: Record<string, unknown>, plan: CredentialPlan): boolean {
  if (plan.vocabulary === undefined || plan.operation === undefined) return false;
  if (r3ClaimLists(claims.r3_granted, plan.vocabulary, plan.operation)) return true;
  return plan.accessMode === 'per-call' && r3ClaimLists(claims.r3_per_call, plan.vocabulary, plan.operation);
}

/**
 * The authorization endpoint request for one more operation (R3 §Authorization Endpoint Extensions):
 * `r3_operations` = the operations the held auth token lists in the same vocabulary plus `operation`,
 * and the held token's `scope`, so that the grant that replaces it keeps what it had.
 */
function authorizationRequest(
  heldAuthToken: string | undefined,
  vocabulary: string,
  operation: R3Operation,
): { scope?: string; r3_operations: { vocabulary: string; operations: R3Operation[] } } {
  const claims = heldAuthToken === undefined ? {} : decodeJwtUnverified(heldAuthToken).payload;
  const operations: R3Operation[] = [];
  for (const claim of [claims.r3_granted, claims.r3_per_call]) {
    const held = readR3Operations(claim);
    if (held?.vocabulary !== vocabulary) continue;
    for (const op of held.operations) {
      if (!r3ClaimLists({ vocabulary, operations }, vocabulary, op)) operations.push(op);
    }
  }
  if (!r3ClaimLists({ vocabulary, operations }, vocabulary, operation)) operations.push(operation);
  return {
    ...(typeof claims.scope === 'string' && claims.scope !== '' ? { scope: claims.scope } : {}),
    r3_operations: { vocabulary, operations },
  };
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
  /** The approval `capabilities` of the active mission (§Mission Approval). */
  private readonly missionCapabilities = new Set<Capability>();
  private activeMission: string | undefined;
  private durable?: KeyPair;
  private ephemeral?: { key: KeyPair; token: string; expiresAt: number; claims: AgentTokenClaims };
  private refreshing?: Promise<Credential>;
  private psMetadata?: { issuer: string; metadata: PersonServerMetadata };
  private readonly resourceMetadataCache = new Map<string, ResourceMetadata>();

  constructor(options: AgentOptions) {
    this.options = options;
    this.store = options.store;
    this.runtime = createRuntime(options);
    this.policy = options.identifierPolicy ?? STRICT;
    this.activeMission = options.missionS256;
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
    for (const capability of this.missionCapabilities) own.add(capability);
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
    this.useMission(undefined);
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
    request: {
      body?: unknown;
      raw?: Uint8Array;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
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
      ...(request.signal === undefined ? {} : { signal: request.signal }),
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

  /**
   * The retry that carries a per-call auth token. R3 §Per-Call Proposals, *Single use*: "the first
   * response can be lost in transit" and a repeat of the same token "MUST be answered from the retained
   * result of the executed call, not executed again" — so when no response arrives, the same call with
   * the same token is sent once more (freshly signed) instead of asking the person again.
   */
  private async sendPerCall(
    credential: Credential,
    method: string,
    url: string,
    request: Parameters<Agent['sendSigned']>[4],
  ): Promise<Response> {
    try {
      return await this.sendWith(credential, method, url, request);
    } catch (err) {
      if (request?.signal?.aborted) throw err;
      this.runtime.emit({
        step: 'request',
        message: 'no response to the per-call retry: the same per-call auth token once more',
      });
      // A later `created` (whole seconds): the repeat is a new signature, not a replay of the lost one.
      await this.runtime.sleep(1000);
      return this.sendWith(credential, method, url, request);
    }
  }

  /**
   * Handlers for a deferred response of a request signed with `key` to the AP or the PS. An
   * interaction the PS raised in answer to the agent's own request goes to the caller, not back
   * through the PS's `interaction_endpoint`: the PS has already decided the agent should bring the
   * person (docs/spec-decisions.md). Interactions raised by resources are relayed (`completeDeferred`).
   */
  private deferredHandlers(key: KeyPair, signatureKey: SignatureKeyMember): DeferredHandlers {
    const onInteraction = this.options.onInteraction;
    return {
      send: (method, url, body, headers) =>
        this.sendSigned(method, url, key, signatureKey, {
          ...(body === undefined ? {} : { body }),
          ...(headers ? { headers } : {}),
        }),
      ...(onInteraction ? { onInteraction } : {}),
      ...(this.options.onClarification ? { onClarification: this.options.onClarification } : {}),
    };
  }

  /**
   * §Relaying Through the Person Server: POST `{type: "interaction", url, code, max_wait}` to the
   * PS's `interaction_endpoint` when it publishes one; a `202` is followed until the relay resolves
   * (the caller then keeps polling its own pending URL, which stays authoritative for completion,
   * §Interaction Response). `424 interaction_unavailable`, a relay that expired before the person
   * engaged (`408`), or no endpoint falls back to the caller's `onInteraction` (browser, displayed
   * code, QR code).
   */
  private interactionHandler(): (prompt: InteractionPrompt) => Promise<void> {
    return async (prompt) => {
      if (await this.relayInteraction(prompt)) return;
      if (!this.options.onInteraction) {
        throw new UnsupportedRequirement(
          202,
          'interaction',
          'The PS cannot relay the interaction and there is no way to bring the person to it.',
        );
      }
      await this.options.onInteraction(prompt);
    };
  }

  private async relayInteraction(prompt: InteractionPrompt): Promise<boolean> {
    let metadata: PersonServerMetadata;
    try {
      ({ metadata } = await this.personServer());
    } catch (err) {
      // No PS to relay through (§Relaying Through the Person Server: "when it has no PS").
      if (err instanceof UnsupportedRequirement) return false;
      throw err;
    }
    const endpoint = metadata.interaction_endpoint;
    if (!isEndpointUrl(endpoint, this.policy)) return false;
    // The PS asked for this interaction itself: relaying it back would only delay the person.
    if (prompt.server === this.psMetadata?.issuer) return false;
    this.runtime.emit({ step: 'interaction', message: `relay ${prompt.url} through ${endpoint}` });
    try {
      await this.postToPersonServer(
        endpoint,
        {
          type: 'interaction',
          url: prompt.url,
          code: prompt.code,
          max_wait: this.options.relayMaxWaitSeconds ?? DEFAULT_RELAY_MAX_WAIT_SECONDS,
          ...(this.activeMission === undefined ? {} : { mission_s256: this.activeMission }),
        },
        { capabilities: false },
      );
      this.runtime.emit({ step: 'interaction', message: 'the PS relayed the interaction' });
      return true;
    } catch (err) {
      // §Interaction Endpoint Errors: non-terminal; the agent directs the person itself.
      if (err instanceof InteractionUnavailable) {
        this.runtime.emit({ step: 'interaction', message: 'interaction_unavailable: directing the person' });
        return false;
      }
      // §Interaction Response: max_wait elapsed before the person engaged; the agent can still drive it.
      if (err instanceof Expired) {
        this.runtime.emit({ step: 'interaction', message: 'the relay expired: directing the person' });
        return false;
      }
      throw err;
    }
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

  /**
   * A signed POST to a PS endpoint with the agent token, followed through any deferred response.
   * `capabilities` (default on) adds the `capabilities` member (§AAuth-Capabilities: on PS endpoints
   * the values travel in the body, never in the header).
   */
  private async postToPersonServer(
    url: string,
    body: Record<string, unknown>,
    options: { capabilities?: boolean } = {},
  ): Promise<unknown> {
    const capabilities = options.capabilities === false ? [] : this.capabilities();
    const payload =
      capabilities.length > 0 && body.capabilities === undefined ? { ...body, capabilities } : body;
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

  /**
   * §Person Token Endpoint: a person token for `resource` (and the active mission), cached until
   * `exp`. For a sub-agent the parent asks with `subagent_token` and the token binds the sub-agent's
   * key (§Parent-Mediated Authorization). The token is checked before it is cached.
   */
  private async obtainPersonToken(resource: string, subagent?: string): Promise<CachedToken> {
    const { issuer, metadata } = await this.personServer();
    const signer = await this.signerCredential(subagent);
    const mission = this.activeMission;
    this.runtime.emit({
      step: 'person-token',
      message: `POST ${metadata.person_token_endpoint} for ${resource}${subagent ? ` (sub-agent ${subagent})` : ''}`,
    });
    const body = await this.withMissionStatus(mission, () =>
      this.postToPersonServer(metadata.person_token_endpoint, {
        resource,
        ...(mission === undefined ? {} : { mission_s256: mission }),
        ...(subagent === undefined ? {} : { subagent_token: signer.token }),
      }),
    );
    const token = tokenField(body, 'person_token');
    let claims: Awaited<ReturnType<typeof checkPersonToken>>;
    try {
      claims = await checkPersonToken(token, {
        ps: issuer,
        resource,
        jkt: signer.key.thumbprint,
        ...(mission === undefined ? {} : { missionS256: mission }),
        verifier: this.verifier,
      });
    } catch (cause) {
      if (cause instanceof PersonTokenMismatch) throw new InvalidPersonToken(cause.message, { cause });
      throw cause;
    }
    const cached: CachedToken = {
      token,
      expires_at: typeof claims.exp === 'number' ? claims.exp : expiresAt(token, body, this.now()),
      jkt: signer.key.thumbprint,
      ...(typeof claims.sub === 'string' ? { sub: claims.sub } : {}),
    };
    await this.remember('person-tokens', personTokenKey(resource, mission, subagent), cached);
    return cached;
  }

  /**
   * `requirement=auth-token`: §Resource Challenge Verification (nothing reaches the PS unless it
   * passes), the exchange at `auth_token_endpoint`, §Auth Token Response Verification, then the cache.
   * For a sub-agent the parent signs and sends `subagent_token`; the resource token and the auth
   * token bind the sub-agent's key (§Parent-Mediated Authorization).
   */
  private async obtainAuthToken(
    resource: string,
    resourceToken: string,
    presentedSub: string | undefined,
    subagent?: string,
  ): Promise<void> {
    const obtained = await this.requestAuthToken(resource, resourceToken, presentedSub, subagent);
    await this.remember('auth-tokens', signerKey(resource, subagent), obtained.cached);
  }

  /** `obtainAuthToken` without the cache: the verified token, for the caller to cache or use once. */
  private async requestAuthToken(
    resource: string,
    resourceToken: string,
    presentedSub: string | undefined,
    subagent?: string,
  ): Promise<ObtainedAuthToken> {
    const { issuer, metadata } = await this.personServer();
    const signer = await this.signerCredential(subagent);
    const claims = await verifyResourceChallenge(resourceToken, {
      resource,
      agentJkt: signer.key.thumbprint,
      ps: issuer,
      ...(presentedSub === undefined ? {} : { presentedSub }),
      now: this.now(),
      verifier: this.verifier,
    });
    this.runtime.emit({
      step: 'auth-token',
      message: `POST ${metadata.auth_token_endpoint} (scope ${claims.scope ?? '—'})${subagent ? ` for sub-agent ${subagent}` : ''}`,
    });
    const body = await this.withMissionStatus(claims.mission_s256, () =>
      this.postToPersonServer(metadata.auth_token_endpoint, {
        resource_token: resourceToken,
        ...(subagent === undefined ? {} : { subagent_token: signer.token }),
        ...(this.options.justification === undefined ? {} : { justification: this.options.justification }),
      }),
    );
    const token = tokenField(body, 'auth_token');
    const verified = await verifyAuthTokenResponse(token, {
      resourceToken: claims,
      resource,
      agentJkt: signer.key.thumbprint,
      verifier: this.verifier,
    });
    return {
      token,
      key: signer.key,
      claims: verified,
      cached: {
        token,
        expires_at: typeof verified.exp === 'number' ? verified.exp : expiresAt(token, body, this.now()),
        jkt: signer.key.thumbprint,
        sub: verified.sub,
      },
    };
  }

  // --- Missions -----------------------------------------------------------------------------------

  private async readMissions(): Promise<StoredMissions> {
    return (await this.store.read('missions')) ?? { missions: {} };
  }

  private async saveMission(mission: Mission, makeCurrent = false): Promise<void> {
    const all = await this.readMissions();
    await this.store.write('missions', {
      ...(makeCurrent
        ? { current: mission.s256 }
        : all.current === undefined
          ? {}
          : { current: all.current }),
      missions: { ...all.missions, [mission.s256]: mission },
    });
  }

  /**
   * Runs a PS request made under `s256`; a `mission_terminated` answer (§Mission Status Errors) is
   * recorded on the stored mission (with its `termination_reason`) before it is rethrown.
   */
  private async withMissionStatus<T>(s256: string | undefined, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (s256 !== undefined && err instanceof MissionTerminated) {
        const stored = (await this.readMissions()).missions[s256];
        if (stored) {
          const { termination_reason } = terminationOf(err);
          await this.saveMission({
            ...stored,
            status: 'terminated',
            ...(termination_reason === undefined ? {} : { termination_reason }),
          });
        }
      }
      throw err;
    }
  }

  private async missionEndpoint(): Promise<{ issuer: string; endpoint: string }> {
    const { issuer, metadata } = await this.personServer();
    const endpoint = metadata.mission_endpoint;
    if (!isEndpointUrl(endpoint, this.policy)) {
      throw new InvalidRequest('The Person Server publishes no usable mission_endpoint.');
    }
    return { issuer, endpoint };
  }

  /**
   * §Mission Creation: proposes a mission at `mission_endpoint`, follows the deferred response while
   * the person reviews it (clarifications go to `onClarification`), verifies the approval
   * (§Mission Approval: `s256` against the decoded bytes, the blob's `approver` and `agent`, each
   * person token), caches the person tokens per resource and mission, stores the mission and makes
   * it the agent's active mission.
   */
  async proposeMission(proposal: MissionProposal): Promise<Mission> {
    const { issuer, endpoint } = await this.missionEndpoint();
    const credential = await this.agentCredential();
    const agent = this.ephemeral!.claims.sub;
    this.runtime.emit({ step: 'mission', message: `POST ${endpoint} (proposal)` });
    const body = await this.postToPersonServer(endpoint, {
      description: proposal.description,
      ...(proposal.tools === undefined ? {} : { tools: proposal.tools }),
      ...(proposal.resources === undefined ? {} : { resources: proposal.resources }),
      ...(proposal.capabilities === undefined ? {} : { capabilities: proposal.capabilities }),
    });
    const { mission, personTokens } = await verifyApproval(body, {
      ps: issuer,
      agent,
      jkt: credential.key.thumbprint,
      resources: proposal.resources ?? [],
      verifier: this.verifier,
    });
    for (const [resource, { token, claims }] of personTokens) {
      await this.remember('person-tokens', personTokenKey(resource, mission.s256), {
        token,
        expires_at: claims.exp,
        jkt: credential.key.thumbprint,
        sub: claims.sub,
      });
    }
    await this.saveMission(mission, true);
    this.useMission(mission.s256);
    this.runtime.emit({ step: 'mission', message: `approved ${mission.s256}` });
    return mission;
  }

  /** Works under `s256` from now on (`undefined`: no mission). */
  useMission(s256: string | undefined): void {
    this.activeMission = s256;
    this.missionCapabilities.clear();
  }

  /** The mission in use, else the stored current one. */
  async mission(s256?: string): Promise<Mission | undefined> {
    const all = await this.readMissions();
    const id = s256 ?? this.activeMission ?? all.current;
    return id === undefined ? undefined : all.missions[id];
  }

  /** Every mission stored, newest approval first. */
  async missions(): Promise<Mission[]> {
    return Object.values((await this.readMissions()).missions).sort((a, b) =>
      b.approved_at.localeCompare(a.approved_at),
    );
  }

  private async requireMission(s256: string | undefined): Promise<Mission> {
    const mission = await this.mission(s256);
    if (mission === undefined) throw new InvalidRequest('No such mission is stored; propose one first.');
    if (mission.status === 'terminated') throw terminatedError(mission);
    return mission;
  }

  /**
   * Loads the active mission's approval capabilities; refuses a mission known to have ended. Read on
   * every call: another call (or process sharing the store) may have recorded its termination.
   */
  private async loadActiveMission(): Promise<void> {
    this.missionCapabilities.clear();
    if (this.activeMission === undefined) return;
    const stored = (await this.readMissions()).missions[this.activeMission];
    if (stored?.status === 'terminated') throw terminatedError(stored);
    for (const capability of stored?.capabilities ?? []) this.missionCapabilities.add(capability);
  }

  /**
   * §Mission Update: `POST {mission_endpoint}/{s256}` with `action: update`; the PS accepts it at
   * once (`200 {s256}`) or after the person reviews it (a deferred response). The accepted update's
   * `s256` is recorded with the mission.
   */
  async updateMission(description: string, s256?: string): Promise<{ s256: string }> {
    const mission = await this.requireMission(s256);
    const { endpoint } = await this.missionEndpoint();
    const url = `${endpoint}/${mission.s256}`;
    this.runtime.emit({ step: 'mission', message: `POST ${url} (update)` });
    const body = await this.withMissionStatus(mission.s256, () =>
      this.postToPersonServer(url, { action: 'update', description }, { capabilities: false }),
    );
    const updateS256 = tokenField(body, 's256');
    const latest = (await this.readMissions()).missions[mission.s256] ?? mission;
    await this.saveMission({ ...latest, updates: [...latest.updates, { s256: updateS256, description }] });
    return { s256: updateS256 };
  }

  /**
   * §Mission Completion: proposes completion with a summary; the person reviews it (a deferred
   * response, with clarification chat). On acceptance the PS terminates the mission as `completed`,
   * which is recorded here.
   */
  async completeMission(summary: string, s256?: string): Promise<MissionCompletion> {
    const mission = await this.requireMission(s256);
    const { endpoint } = await this.missionEndpoint();
    const url = `${endpoint}/${mission.s256}`;
    this.runtime.emit({ step: 'mission', message: `POST ${url} (completion)` });
    const body = (await this.withMissionStatus(mission.s256, () =>
      this.postToPersonServer(url, { action: 'completion', summary }, { capabilities: false }),
    )) as Record<string, unknown> | undefined;
    const status = typeof body?.mission_status === 'string' ? body.mission_status : 'terminated';
    const reason = typeof body?.termination_reason === 'string' ? body.termination_reason : 'completed';
    const latest = (await this.readMissions()).missions[mission.s256] ?? mission;
    await this.saveMission({ ...latest, status: 'terminated', termination_reason: reason });
    return { s256: mission.s256, mission_status: status, termination_reason: reason };
  }

  // --- Sub-agents ---------------------------------------------------------------------------------

  private async subagentEndpoint(): Promise<string> {
    const enrollment = await this.store.read('enrollment');
    if (!enrollment) throw new NotEnrolled();
    const metadata = await this.fetchMetadata(enrollment.agent_provider, DWK.agent);
    const endpoint = metadata.subagent_token_endpoint;
    if (!isEndpointUrl(endpoint, this.policy)) {
      throw new InvalidRequest('The Agent Provider publishes no usable subagent_token_endpoint.');
    }
    return endpoint;
  }

  /**
   * Obtains a sub-agent token for `key` from the AP (bootstrap draft; the demo AP's
   * `subagent_token_endpoint` takes `{jwk, discriminator}` signed with the parent's agent token) and
   * checks it is what §Sub-Agent Identity says: `parent_agent` = this agent, `local` = this agent's
   * local part + `+` + the name, `cnf.jwk` = the sub-agent's key, same AP and PS.
   */
  private async requestSubAgentToken(name: string, key: KeyPair): Promise<StoredSubAgent> {
    const parent = await this.agentCredential();
    const parentClaims = this.ephemeral!.claims;
    // §Single-Level Depth: a sub-agent cannot have sub-agents.
    if (parentClaims.parent_agent !== undefined) {
      throw new SubAgentRefused('A sub-agent cannot create sub-agents (§Single-Level Depth).');
    }
    const endpoint = await this.subagentEndpoint();
    this.runtime.emit({ step: 'agent-token', message: `POST ${endpoint} (sub-agent ${name})` });
    const { kty, crv, x, y, alg } = key.jwk;
    const response = await this.sendWith(parent, 'POST', endpoint, {
      body: { jwk: { kty, crv, x, ...(y === undefined ? {} : { y }), alg }, discriminator: name },
    });
    const body = await readJsonBody(response);
    if (response.status !== 200) throw errorFromResponse(response.status, response.headers, body);
    const token = tokenField(body, 'agent_token');
    let verified: Awaited<ReturnType<TokenVerifier['verify']>>;
    try {
      verified = await this.verifier.verify(token, { kinds: ['agent'] });
    } catch (cause) {
      throw new InvalidAgentToken('The sub-agent token does not verify.', { cause });
    }
    const claims = verified.claims as AgentTokenClaims;
    const parentId = parseAgentIdentifier(parentClaims.sub, this.policy);
    const id = parseAgentIdentifier(claims.sub, this.policy);
    if (
      claims.iss !== parentClaims.iss ||
      claims.parent_agent !== parentClaims.sub ||
      claims.ps !== parentClaims.ps ||
      id === undefined ||
      id.local !== `${parentId?.local}+${name}` ||
      id.domain !== parentId?.domain ||
      verified.cnfKey?.thumbprint !== key.thumbprint
    ) {
      throw new InvalidAgentToken(
        "The sub-agent token does not name this agent as parent_agent, the sub-agent's name, or its key.",
      );
    }
    return {
      name,
      agent: claims.sub,
      key: exportPrivateJwk(key),
      agent_token: token,
      expires_at: claims.exp,
    };
  }

  /**
   * Creates a sub-agent (§Sub-Agents): a key of its own and a sub-agent token from the AP, stored
   * under `name`. Creating an existing name renews its token and keeps its key.
   */
  async createSubAgent(name: string): Promise<SubAgentIdentity> {
    if (!SUBAGENT_NAME.test(name)) {
      throw new SubAgentRefused('A sub-agent name is 1-64 of a-z 0-9 . _ - (the part after +).');
    }
    const existing = (await this.store.read('subagents'))?.[name];
    const key = existing ? importPrivateJwk(existing.key) : generateKeyPair(this.options.alg ?? 'Ed25519');
    const stored = await this.requestSubAgentToken(name, key);
    await this.store.write('subagents', { ...((await this.store.read('subagents')) ?? {}), [name]: stored });
    return this.describeSubAgent(stored);
  }

  private describeSubAgent(stored: StoredSubAgent): SubAgentIdentity {
    const claims = decodeJwtUnverified(stored.agent_token).payload as unknown as AgentTokenClaims;
    return {
      name: stored.name,
      agent: stored.agent,
      parent_agent: claims.parent_agent ?? '',
      key_thumbprint: importPrivateJwk(stored.key).thumbprint,
      expires_at: stored.expires_at,
    };
  }

  /** The sub-agents created by this agent. */
  async subAgents(): Promise<SubAgentIdentity[]> {
    return Object.values((await this.store.read('subagents')) ?? {}).map((s) => this.describeSubAgent(s));
  }

  /** A created sub-agent: its `fetch` signs with its own key; this agent obtains its tokens. */
  subAgent(name: string): SubAgent {
    return {
      name,
      identity: async () => this.describeSubAgent(await this.storedSubAgent(name)),
      fetch: (url, init) => this.fetchAs(name, url, init),
    };
  }

  private async storedSubAgent(name: string): Promise<StoredSubAgent> {
    const stored = (await this.store.read('subagents'))?.[name];
    if (!stored) throw new SubAgentRefused(`No sub-agent named ${name}; create it first.`);
    return stored;
  }

  /**
   * The agent-token credential of a signer: this agent's, or a sub-agent's (its token renewed by
   * the parent, same key, when within the margin of `exp`).
   */
  private async signerCredential(subagent: string | undefined, forceRefresh = false): Promise<Credential> {
    if (subagent === undefined) return this.agentCredential(forceRefresh);
    let stored = await this.storedSubAgent(subagent);
    const margin = this.options.refreshMarginSeconds ?? DEFAULT_MARGIN_SECONDS;
    if (forceRefresh || stored.expires_at - margin <= this.now()) {
      stored = await this.requestSubAgentToken(subagent, importPrivateJwk(stored.key));
      await this.store.write('subagents', {
        ...((await this.store.read('subagents')) ?? {}),
        [subagent]: stored,
      });
    }
    return { kind: 'agent', key: importPrivateJwk(stored.key), token: stored.agent_token };
  }

  // --- Resources ----------------------------------------------------------------------------------

  /** The strongest credential held for the resource: auth token, person token, else the agent token. */
  private async resourceCredential(
    resource: string,
    agentOnly: boolean,
    subagent?: string,
    withoutPerson = false,
  ): Promise<Credential> {
    const agent = await this.signerCredential(subagent);
    if (agentOnly) return agent;
    const jkt = agent.key.thumbprint;
    const auth = await this.cached('auth-tokens', signerKey(resource, subagent), jkt);
    if (auth)
      return { kind: 'auth', key: agent.key, token: auth.token, ...(auth.sub ? { sub: auth.sub } : {}) };
    if (withoutPerson) return agent;
    const person = await this.cached(
      'person-tokens',
      personTokenKey(resource, this.activeMission, subagent),
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

  private async captureSession(key: string, response: Response): Promise<void> {
    const value = response.headers.get('aauth-access');
    if (value === null) return;
    const token = parseAAuthAccess(value);
    if (token === undefined) return;
    const sessions = { ...((await this.store.read('sessions')) ?? {}) };
    if (sessions[key] === token) return;
    this.runtime.emit({
      step: 'session-token',
      message: sessions[key] ? 'session token rolled' : 'session token stored',
    });
    sessions[key] = token;
    await this.store.write('sessions', sessions);
  }

  private async forgetSession(key: string): Promise<void> {
    const sessions = { ...((await this.store.read('sessions')) ?? {}) };
    delete sessions[key];
    await this.store.write('sessions', sessions);
  }

  /**
   * The signing `fetch` (§Consuming a Resource End to End: "make the request, read any
   * AAuth-Requirement, satisfy it … and retry"). Returns the resource's final response; throws a
   * typed error for every protocol failure and for requirements it cannot satisfy.
   */
  async fetch(url: string, init: AgentRequestInit = {}): Promise<Response> {
    return this.fetchAs(undefined, url, init);
  }

  /** `fetch` signed by this agent (`subagent` undefined) or by one of its sub-agents. */
  private async fetchAs(
    subagent: string | undefined,
    url: string,
    init: AgentRequestInit = {},
  ): Promise<Response> {
    const resource = new URL(url).origin;
    const sessionKey = signerKey(resource, subagent);
    const method = (init.method ?? 'GET').toUpperCase();
    const raw = toBytes(init.body);
    const baseHeaders = lowerCaseHeaders(init.headers);
    const maxRounds = this.options.maxRounds ?? DEFAULT_MAX_ROUNDS;
    await this.loadActiveMission();
    let agentOnly = false;
    let withoutPerson = init.withoutPersonToken === true;
    let sessionRetried = false;
    let expiredRetried = false;
    /** A per-call auth token: presented on the next round only, never cached (§Per-Call Proposals). */
    let perCall: { credential: Credential; kind: GrantKind; cached: CachedToken } | undefined;
    /** Whether an annotation-only per-call guess already turned out to be a class grant. */
    let reclassified = false;
    const signal = init.signal;

    for (let round = 0; round < maxRounds; round += 1) {
      const oneShot = perCall;
      const isPerCall = oneShot !== undefined;
      const credential =
        oneShot?.credential ?? (await this.resourceCredential(resource, agentOnly, subagent, withoutPerson));
      perCall = undefined;
      const headers = { ...baseHeaders };
      // §AAuth-Capabilities: the agent's own ∪ the PS's from mission approval, on resource requests.
      const capabilities = this.capabilities();
      if (capabilities.length > 0) headers['aauth-capabilities'] = serializeAAuthCapabilities(capabilities);
      const session = (await this.store.read('sessions'))?.[sessionKey];
      if (session !== undefined && headers.authorization === undefined)
        headers.authorization = formatAuthorizationAAuth(session);
      this.runtime.emit({
        step: 'request',
        message: `${method} ${url} (${isPerCall ? 'per-call auth' : credential.kind} token${subagent ? ` of sub-agent ${subagent}` : ''}${session ? ', session token' : ''})`,
      });
      const request = { ...(raw === undefined ? {} : { raw }), headers, ...(signal ? { signal } : {}) };
      const response = isPerCall
        ? await this.sendPerCall(credential, method, url, request)
        : await this.sendWith(credential, method, url, request);
      this.runtime.emit({ step: 'response', message: `${response.status}` });
      await this.captureSession(sessionKey, response);

      if (response.status === 202) {
        // A deferred response always names its pending URL (§Pending Response); a bare 202 is plain
        // HTTP "accepted" (an MCP notification) and is the caller's to read.
        if (response.headers.get('location') === null && response.headers.get('aauth-requirement') === null) {
          return response;
        }
        return this.completeDeferred(resource, response, url, subagent);
      }
      if (response.status !== 401) return response;

      const requirementHeader = response.headers.get('aauth-requirement');
      if (oneShot !== undefined) {
        if (requirementHeader !== null && oneShot.kind === 'per-call-annotated' && !reclassified) {
          // Taken for per-call from the annotation alone, it was the class grant (listing the operation
          // in `r3_granted`): the resource now answers it with the proposal. Keep it; answer that.
          reclassified = true;
          this.runtime.emit({ step: 'auth-token', message: 'that auth token was a class grant: cached' });
          await this.remember('auth-tokens', signerKey(resource, subagent), oneShot.cached);
        } else {
          // The per-call grant was for this very call: another challenge would only ask the person again.
          const body = await readJsonBody(response);
          if (requirementHeader === null) throw errorFromResponse(401, response.headers, body);
          throw new RemoteError(
            401,
            'per_call_refused',
            'The resource challenged the call again after its per-call auth token was presented.',
          );
        }
      }
      if (requirementHeader === null) {
        const error = errorFromResponse(401, response.headers, await readJsonBody(response));
        // A session token the resource no longer knows: discard it and retry without (README, *Session tokens*).
        if (error instanceof SignatureError && session !== undefined && !sessionRetried) {
          sessionRetried = true;
          await this.forgetSession(sessionKey);
          continue;
        }
        if (
          error instanceof SignatureError &&
          (error.error === 'invalid_jwt' || error.error === 'expired_jwt')
        ) {
          if (credential.kind === 'auth') {
            await this.remember('auth-tokens', signerKey(resource, subagent), undefined);
            continue;
          }
          if (credential.kind === 'person') {
            await this.remember(
              'person-tokens',
              personTokenKey(resource, this.activeMission, subagent),
              undefined,
            );
            continue;
          }
          if (error.error === 'expired_jwt' && !expiredRetried) {
            expiredRetried = true;
            await this.signerCredential(subagent, true);
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
          if (withoutPerson) {
            withoutPerson = false;
            // The person token withheld is presented now; one is requested only if none is held.
            if ((await this.resourceCredential(resource, false, subagent)).kind === 'person') continue;
          }
          await this.obtainPersonToken(resource, subagent);
          continue;
        case 'auth-token': {
          agentOnly = false;
          let obtained: ObtainedAuthToken;
          try {
            obtained = await this.requestAuthToken(
              resource,
              requirement['resource-token'],
              credential.sub,
              subagent,
            );
          } catch (err) {
            // The resource token expired before the PS used it: ask the resource again for a fresh one.
            if (err instanceof ExpiredResourceToken && !expiredRetried) {
              expiredRetried = true;
              continue;
            }
            throw err;
          }
          const presented =
            credential.kind === 'auth' ? decodeJwtUnverified(credential.token).payload : undefined;
          const grantKind = classifyAuthToken(
            init.invocation,
            presented,
            obtained.claims as unknown as Record<string, unknown>,
          );
          if (grantKind !== 'grant') {
            this.runtime.emit({
              step: 'auth-token',
              message: 'per-call auth token: presented once, on the retry of this same call',
            });
            perCall = {
              kind: grantKind,
              cached: obtained.cached,
              credential: {
                kind: 'auth',
                key: obtained.key,
                token: obtained.token,
                ...(obtained.cached.sub === undefined ? {} : { sub: obtained.cached.sub }),
              },
            };
          } else {
            await this.remember('auth-tokens', signerKey(resource, subagent), obtained.cached);
          }
          continue;
        }
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

  /** The resource's `/.well-known/aauth-resource.json`, fetched once per resource and kept. */
  async resourceMetadata(resource: string): Promise<ResourceMetadata> {
    const origin = new URL(resource).origin;
    let metadata = this.resourceMetadataCache.get(origin);
    if (metadata === undefined) {
      metadata = (await this.fetchMetadata(origin, DWK.resource)) as unknown as ResourceMetadata;
      this.resourceMetadataCache.set(origin, metadata);
    }
    return metadata;
  }

  /**
   * Obtains, before the first call of an operation, the credential its access mode annotation names
   * (R3 §Operation Access Annotations: "an agent reading the vocabulary before its first call can then
   * tell which operations the credential it holds already covers"):
   * - `agent-token`: nothing to obtain; a person or auth token already held covers it too;
   * - `person-token`: a person token from the PS unless one (or an auth token) is held;
   * - `auth-token`, `per-call`: an auth token whose `r3_granted` (or, for `per-call`, `r3_per_call`)
   *   lists the operation, asked for at the resource's `authorization_endpoint` with `r3_operations`
   *   (R3 §Authorization Endpoint Extensions) — the operations of the auth token held plus this one,
   *   so the new grant replaces the old without narrowing it. A per-call grant itself needs the
   *   concrete call and comes from the call's challenge.
   * Annotations are advisory (§Applying Annotations): when the resource has no authorization endpoint,
   * does not advertise the vocabulary, or refuses the request, nothing is obtained (`deferred`) and the
   * call's `401` decides. An auth token held without R3 claims (scopes only) is presented as it is.
   */
  async prepareCredential(url: string, plan: CredentialPlan): Promise<PreparedCredential> {
    const resource = new URL(url).origin;
    await this.loadActiveMission();
    const held = await this.resourceCredential(resource, false);
    const mode = plan.accessMode;
    if (mode === undefined || mode === 'agent-token') return { kind: held.kind, outcome: 'held' };
    if (mode === 'person-token') {
      if (held.kind !== 'agent') return { kind: held.kind, outcome: 'held' };
      await this.obtainPersonToken(resource);
      return { kind: 'person', outcome: 'obtained' };
    }
    if (held.kind === 'auth' && authTokenCovers(held.token, plan)) return { kind: 'auth', outcome: 'held' };
    let kind = held.kind;
    const deferred = (detail: string): PreparedCredential => {
      this.runtime.emit({ step: 'auth-token', message: `not obtained before the call: ${detail}` });
      return { kind, outcome: 'deferred', detail };
    };
    if (plan.vocabulary === undefined || plan.operation === undefined) {
      return deferred('no operation to ask for');
    }
    let metadata: ResourceMetadata;
    try {
      metadata = await this.resourceMetadata(resource);
    } catch (err) {
      return deferred(`no resource metadata (${err instanceof Error ? err.message : String(err)})`);
    }
    const endpoint = metadata.authorization_endpoint;
    if (!isEndpointUrl(endpoint, this.policy)) return deferred('the resource has no authorization_endpoint');
    if (metadata.r3_vocabularies?.[plan.vocabulary] === undefined) {
      return deferred(`the resource does not advertise ${plan.vocabulary} in r3_vocabularies`);
    }
    const signer = await this.agentCredential();
    const person =
      (await this.cached(
        'person-tokens',
        personTokenKey(resource, this.activeMission),
        signer.key.thumbprint,
      )) ?? (await this.obtainPersonToken(resource));
    if (kind === 'agent') kind = 'person';
    const body = authorizationRequest(
      held.kind === 'auth' ? held.token : undefined,
      plan.vocabulary,
      plan.operation,
    );
    this.runtime.emit({
      step: 'auth-token',
      message: `POST ${endpoint} (r3_operations ${body.r3_operations.operations.map((op) => JSON.stringify(op)).join(', ')})`,
    });
    const response = await this.sendWith(
      { kind: 'person', key: signer.key, token: person.token, ...(person.sub ? { sub: person.sub } : {}) },
      'POST',
      endpoint,
      { body },
    );
    const answer = await readJsonBody(response);
    const resourceToken = (answer as Record<string, unknown> | undefined)?.resource_token;
    if (response.status !== 200 || typeof resourceToken !== 'string') {
      const error = errorFromResponse(response.status, response.headers, answer);
      return deferred(`the authorization endpoint answered ${response.status} ${error.error}`);
    }
    // R3 §Authorization Endpoint Extensions: with `r3_operations` the resource token names the R3
    // document covering them. Without one the resource ignored the operations, and a grant of the held
    // scope alone would only replace the auth token held.
    const { payload } = decodeJwtUnverified(resourceToken);
    if (typeof payload.r3_uri !== 'string' || typeof payload.r3_s256 !== 'string') {
      return deferred('the resource token names no R3 document for r3_operations');
    }
    const obtained = await this.requestAuthToken(resource, resourceToken, person.sub);
    if (!grantNames(obtained.claims as unknown as Record<string, unknown>, plan)) {
      return deferred('the auth token issued does not name the operation');
    }
    await this.remember('auth-tokens', signerKey(resource, undefined), obtained.cached);
    return { kind: 'auth', outcome: 'obtained' };
  }

  /** A resource's `202`: poll its pending URL, answering what it raises, presenting an auth token once held. */
  private async completeDeferred(
    resource: string,
    first: Response,
    url: string,
    subagent: string | undefined,
  ): Promise<Response> {
    const sessionKey = signerKey(resource, subagent);
    const handlers: DeferredHandlers = {
      send: async (method, pendingUrl, body, headers) => {
        const credential = await this.resourceCredential(resource, false, subagent);
        const session = (await this.store.read('sessions'))?.[sessionKey];
        const all = { ...(headers ?? {}) };
        if (session !== undefined) all.authorization = formatAuthorizationAAuth(session);
        const response = await this.sendWith(credential, method, pendingUrl, {
          ...(body === undefined ? {} : { body }),
          headers: all,
        });
        await this.captureSession(sessionKey, response);
        return response;
      },
      onAuthToken: async (resourceToken) => {
        const credential = await this.resourceCredential(resource, false, subagent);
        await this.obtainAuthToken(resource, resourceToken, credential.sub, subagent);
      },
      // A resource's interaction: relayed through the PS first (§Relaying Through the Person Server).
      onInteraction: this.interactionHandler(),
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
