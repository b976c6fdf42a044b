import { randomUUID } from 'node:crypto';
import { type ChainingClient, InvalidAuthToken, MalformedAnswer, type TokenStep } from '@aauth-ref/agent';
import {
  AAuthError,
  type Capability,
  type Clock,
  DiscoveryError,
  Forbidden,
  Gone,
  generateInteractionCode,
  NotFound,
  normalizeInteractionCode,
  ServerError,
  TemporarilyUnavailable,
} from '@aauth-ref/core';

/**
 * Call chaining (§Call Chaining, §Directed Identifiers Across a Chain, §Interaction Chaining): to
 * answer its caller, this resource calls `downstream` as an agent in its own right. It asks the
 * person's PS — the `ps` of the upstream auth token, never its own — for a person token for the
 * downstream resource with the upstream auth token as `upstream_token`, presents it downstream, takes
 * the resource token of the `auth-token` challenge back to the PS (again with `upstream_token`), and
 * calls downstream with the auth token. The downstream resource sees the `sub` the PS directed to it.
 * When the PS needs the person (`202`, `requirement=interaction`), the state is stored and the caller
 * gets a `202` of this resource with its own interaction code and pending URL; each signed poll of
 * that URL advances the chain by one PS poll.
 */

export type ChainStep = 'person' | 'auth';
export type ChainStatus = 'pending' | 'done' | 'failed';

export interface ChainRecord {
  readonly id: string;
  readonly ownerJkt: string;
  readonly status: ChainStatus | string;
  readonly step: ChainStep | string;
  readonly ps: string;
  readonly personSub: string;
  readonly psPendingUrl: string | null;
  readonly interactionCode: string | null;
  readonly psInteractionUrl: string | null;
  readonly psInteractionCode: string | null;
  readonly capabilities: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly terminalAt: Date | null;
}

export interface ChainStore {
  insert(record: ChainRecord): Promise<void>;
  find(id: string): Promise<ChainRecord | undefined>;
  findByInteractionCode(code: string): Promise<ChainRecord | undefined>;
  update(id: string, changes: Partial<Omit<ChainRecord, 'id'>>): Promise<void>;
}

/** The caller's credential for this hop: the auth token it presented and whose it is. */
export interface UpstreamContext {
  /** The auth token as presented (sent as `upstream_token`). */
  readonly token: string;
  /** `ps` and `sub` of the upstream auth token: where to route, and whose chain it is. */
  readonly ps: string;
  readonly sub: string;
  /** Thumbprint of the key that signed the caller's request. */
  readonly callerJkt: string;
  /** The caller's `AAuth-Capabilities` (§AAuth-Capabilities), forwarded to the PS. */
  readonly capabilities: readonly Capability[];
}

export type ChainOutcome =
  | {
      readonly kind: 'done';
      readonly status: number;
      readonly body: unknown;
      /** `sub` of the token the downstream resource was called with (its directed identifier). */
      readonly downstreamSub?: string;
    }
  | {
      readonly kind: 'pending';
      readonly id: string;
      readonly retryAfter: number;
      readonly status: 'pending' | 'interacting';
      /** This resource's interaction code, when the PS needs the person. */
      readonly interactionCode?: string;
    };

export interface ChainServiceDeps {
  readonly clock: Clock;
  readonly client: ChainingClient;
  /** The downstream URL this resource calls (`DOWNSTREAM_RESOURCE` + its path). */
  readonly downstreamUrl: string;
  readonly store: ChainStore;
  /** Lifetime of a stored chain, seconds. */
  readonly ttlSeconds: number;
}

export interface ChainService {
  start(upstream: UpstreamContext): Promise<ChainOutcome>;
  /** A poll of `/chain/pending/{id}`, signed by the caller's key and presenting its auth token again. */
  resume(id: string, upstream: UpstreamContext): Promise<ChainOutcome>;
  /** Where `/chain/interaction?code=…` sends the person: the PS's interaction URL with the PS's code. */
  interactionTarget(code: string): Promise<string | undefined>;
}

/** PS answers that end the chain with the person's (or the PS's) decision, passed to the caller as is. */
const PASSED_THROUGH = new Set([403, 408, 410, 424]);

/**
 * A PS step of the chain. The PS's own decisions (`PASSED_THROUGH`) reach the caller as they are;
 * any other refusal (`4xx`) means the PS would not extend the caller's authorization downstream —
 * `403 forbidden` naming the PS's `error`; a PS that fails (`5xx`, `429`, or a `200` that is not a
 * usable token response) is `503`. Never a `500` for a PS's answer to a request the resource made
 * correctly (docs/spec-decisions.md, *Call chaining: a malformed PS answer is 503*).
 */
async function atPs<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isMalformedAnswer(err)) throw unusableAnswer(err);
    if (!(err instanceof AAuthError) || PASSED_THROUGH.has(err.status)) throw err;
    if (err.status >= 500 || err.status === 429) {
      throw new TemporarilyUnavailable(`The person server is unavailable (${err.error}).`, { cause: err });
    }
    throw new Forbidden(
      `The person server refused to extend the caller's authorization downstream: ${err.error}${err.detail === undefined ? '' : ` (${err.detail})`}`,
      { cause: err },
    );
  }
}

/** A `200` from the PS that is not a token response, or whose token fails the agent's checks. */
function isMalformedAnswer(err: unknown): err is MalformedAnswer | InvalidAuthToken {
  return err instanceof MalformedAnswer || err instanceof InvalidAuthToken;
}

function unusableAnswer(err: MalformedAnswer | InvalidAuthToken): TemporarilyUnavailable {
  return new TemporarilyUnavailable(`The person server's answer could not be used: ${err.detail}`, {
    cause: err,
  });
}

/** Whether `err` is an answer for the caller, not a fault of this resource's chain. */
function isCallerAnswer(err: unknown): err is AAuthError {
  return (
    err instanceof AAuthError &&
    (PASSED_THROUGH.has(err.status) || err instanceof Forbidden || err instanceof TemporarilyUnavailable)
  );
}

/** What the caller is told for a failed step. */
function callerAnswerOf(err: unknown): AAuthError {
  if (isCallerAnswer(err)) return err;
  // The PS or the downstream resource unreachable (egress refused, DNS, timeout, connection, size).
  if (err instanceof DiscoveryError) {
    return new TemporarilyUnavailable('The person server or the downstream resource is unreachable.', {
      cause: err,
    });
  }
  return new ServerError('The downstream resource could not be reached on the person’s behalf.', {
    cause: err,
  });
}

export function createChainService(deps: ChainServiceDeps): ChainService {
  const { client, clock, store } = deps;
  const downstream = new URL(deps.downstreamUrl).origin;

  function request(upstream: UpstreamContext) {
    return { upstreamToken: upstream.token, capabilities: upstream.capabilities };
  }

  async function callWithAuthToken(authToken: string, upstream: UpstreamContext): Promise<ChainOutcome> {
    const served = await client.callResource(deps.downstreamUrl, authToken, { ps: upstream.ps });
    if (served.kind !== 'served') {
      throw new ServerError('The downstream resource did not accept the auth token it was given.');
    }
    const sub = subjectOf(authToken);
    return { kind: 'done', status: served.status, body: served.body, ...(sub ? { downstreamSub: sub } : {}) };
  }

  /** With a person token for downstream: present it, exchange the resource token, call with the auth token. */
  async function afterPersonToken(
    personToken: string,
    upstream: UpstreamContext,
    existing: ChainRecord | undefined,
  ): Promise<ChainOutcome> {
    // §Mission: the PS carries the upstream token's mission into the person token it issues.
    const missionS256 = claimOf(upstream.token, 'mission_s256');
    await atPs(() =>
      client.checkPersonToken(personToken, {
        ps: upstream.ps,
        resource: downstream,
        ...(missionS256 === undefined ? {} : { missionS256 }),
      }),
    );
    const sub = subjectOf(personToken);
    const first = await client.callResource(deps.downstreamUrl, personToken, {
      ps: upstream.ps,
      ...(sub === undefined ? {} : { sub }),
    });
    if (first.kind === 'served') {
      return { kind: 'done', status: first.status, body: first.body, ...(sub ? { downstreamSub: sub } : {}) };
    }
    const step = await atPs(() =>
      client.requestAuthToken(upstream.ps, first.resourceToken, request(upstream)),
    );
    if (step.kind === 'token') {
      await atPs(() => client.checkAuthToken(step.token, downstream, first.claims));
      return callWithAuthToken(step.token, upstream);
    }
    return defer('auth', step, upstream, existing);
  }

  async function defer(
    stepName: ChainStep,
    step: Extract<TokenStep, { kind: 'pending' }>,
    upstream: UpstreamContext,
    existing: ChainRecord | undefined,
  ): Promise<ChainOutcome> {
    const interaction =
      step.requirement?.requirement === 'interaction'
        ? { url: step.requirement.url, code: step.requirement.code }
        : undefined;
    // A new PS interaction gets a new code of ours (an agent prompts once per code).
    const sameInteraction =
      existing !== undefined &&
      interaction !== undefined &&
      existing.psInteractionCode === interaction.code &&
      existing.psInteractionUrl === interaction.url;
    const interactionCode =
      interaction === undefined
        ? (existing?.interactionCode ?? null)
        : sameInteraction
          ? existing.interactionCode
          : normalizeInteractionCode(generateInteractionCode())!;
    const fields = {
      step: stepName,
      psPendingUrl: step.location,
      interactionCode,
      psInteractionUrl: interaction?.url ?? existing?.psInteractionUrl ?? null,
      psInteractionCode: interaction?.code ?? existing?.psInteractionCode ?? null,
    };
    let id: string;
    if (existing === undefined) {
      const now = clock.now();
      id = randomUUID();
      await store.insert({
        id,
        ownerJkt: upstream.callerJkt,
        status: 'pending',
        ps: upstream.ps,
        personSub: upstream.sub,
        capabilities: upstream.capabilities.join(' '),
        createdAt: new Date(now),
        expiresAt: new Date(now + deps.ttlSeconds * 1000),
        terminalAt: null,
        ...fields,
      });
    } else {
      id = existing.id;
      await store.update(id, fields);
    }
    return {
      kind: 'pending',
      id,
      retryAfter: Math.max(0, Math.min(step.retryAfter, 60)),
      status: step.status === 'interacting' ? 'interacting' : 'pending',
      ...(interactionCode === null ? {} : { interactionCode }),
    };
  }

  /**
   * Runs `work`; only the PS's decisions reach the caller as such. A failure ends a stored chain,
   * except a `503`: it tells the caller to poll again after `Retry-After`, so that poll must find it.
   */
  async function settle(existing: ChainRecord | undefined, work: () => Promise<ChainOutcome>) {
    let outcome: ChainOutcome;
    try {
      outcome = await work();
    } catch (err) {
      const answer = callerAnswerOf(err);
      if (existing !== undefined && !(answer instanceof TemporarilyUnavailable)) {
        await store.update(existing.id, { status: 'failed', terminalAt: new Date(clock.now()) });
      }
      throw answer;
    }
    if (outcome.kind === 'done' && existing !== undefined) {
      await store.update(existing.id, { status: 'done', terminalAt: new Date(clock.now()) });
    }
    return outcome;
  }

  return {
    async start(upstream) {
      return settle(undefined, async () => {
        const step = await atPs(() => client.requestPersonToken(upstream.ps, downstream, request(upstream)));
        if (step.kind === 'token') return afterPersonToken(step.token, upstream, undefined);
        return defer('person', step, upstream, undefined);
      });
    },

    async resume(id, upstream) {
      const record = await store.find(id);
      // §Pending URL Security: another key, or another person's auth token, learns nothing.
      if (
        record === undefined ||
        record.ownerJkt !== upstream.callerJkt ||
        record.ps !== upstream.ps ||
        record.personSub !== upstream.sub
      ) {
        throw new NotFound('No such pending request.');
      }
      if (record.status !== 'pending' || record.expiresAt.getTime() <= clock.now()) {
        throw new Gone('This pending request has ended.');
      }
      const stored = {
        ...upstream,
        capabilities: record.capabilities.split(' ').filter(Boolean) as Capability[],
      };
      return settle(record, async () => {
        const step = await atPs(() =>
          client.poll(record.psPendingUrl!, record.step === 'person' ? 'person_token' : 'auth_token'),
        );
        if (step.kind === 'pending') return defer(record.step as ChainStep, step, stored, record);
        if (record.step === 'person') return afterPersonToken(step.token, stored, record);
        return callWithAuthToken(step.token, stored);
      });
    },

    async interactionTarget(code) {
      const normalized = normalizeInteractionCode(code);
      if (normalized === undefined) return undefined;
      const record = await store.findByInteractionCode(normalized);
      if (
        record === undefined ||
        record.status !== 'pending' ||
        record.expiresAt.getTime() <= clock.now() ||
        record.psInteractionUrl === null ||
        record.psInteractionCode === null
      ) {
        return undefined;
      }
      const target = new URL(record.psInteractionUrl);
      target.searchParams.set('code', record.psInteractionCode);
      return target.href;
    },
  };
}

function subjectOf(token: string): string | undefined {
  return claimOf(token, 'sub');
}

/** A string claim of a JWT's unverified payload. */
function claimOf(token: string, name: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload?.[name] === 'string' ? payload[name] : undefined;
  } catch {
    return undefined;
  }
}
