import {
  type AAuthRequirement,
  type Clock,
  Denied,
  Expired,
  Gone,
  InvalidRequest,
  isAAuthError,
  ServerError,
  SlowDown,
} from '@aauth-ref/core';
import {
  type DeliveryFacts,
  type FederatedAuthToken,
  type FederationClient,
  type FederationOutcome,
  type FederationState,
  MAX_CLARIFICATION_RESPONSE_LENGTH,
  type RelayedStep,
} from './federation-client.js';
import {
  displayInteractionCode,
  type PendingOwner,
  type PendingRecord,
  type PendingService,
  type PendingStatus,
} from './pending-service.js';
import type { AgentRef, IssuedAuthTokenStore, MissionLog } from './ports.js';
import type { R3Plan } from './r3-consent.js';

/**
 * The AS's deferred steps relayed to the agent (§AS Response, §Deferred Responses): when the AS
 * answers with a step the PS cannot take alone, the agent gets `202` at the PS's own pending URL
 * (a `pending_request` of kind `federated_auth_token`) and the AS's pending URL, its pacing and the
 * facts §Auth Token Delivery checks are kept in `federated_request`. Each poll of the PS's pending URL
 * polls the AS's at most once and never before the AS's `Retry-After`; an auth token the AS issues is
 * verified as on the synchronous path, recorded, and answered `200`.
 *
 * R3 §R3 Processing ("the PS renders display"): for a resource token naming an R3 document the PS
 * fetched and verified the document, and when the AS asks for the person (`requirement=interaction`)
 * the PS directs the person itself (§AS Response: "The PS directs the user to the AS's interaction
 * URL"): the agent is given the PS's own interaction URL and code, whose page shows the document's
 * `display` and then links on to the AS's interaction URL with the AS's code.
 */

/** The PS's pending kind for a deferred four-party request. */
export const FEDERATED_PENDING_KIND = 'federated_auth_token';

/** Kept with a deferred request: the delivery checks and what is recorded once issued. */
export interface FederatedFacts extends DeliveryFacts {
  readonly agent: AgentRef;
  readonly missionS256?: string;
  readonly justification?: string;
  /** The R3 document the PS fetched and verified, shown to the person before the AS's page. */
  readonly r3Plan?: R3Plan;
}

/** What the PS's page for a four-party request shows: the document and where the AS wants the person. */
export interface FederatedInteractionView {
  readonly accessServer: string;
  readonly resource: string;
  readonly r3: R3Plan;
  /** The AS's interaction URL with its code; absent when the AS no longer waits for the person. */
  readonly continueUrl?: string;
}

export interface FederatedRecord {
  readonly id: string;
  readonly facts: FederatedFacts;
  readonly state: FederationState;
  /** The AS is polled no sooner than this. */
  readonly asNextPollAt: Date;
  /** `Retry-After` given to the agent, the bound of its slow_down. */
  readonly agentRetryAfter: number;
  readonly version: number;
}

export interface FederatedRequestStore {
  insert(record: Omit<FederatedRecord, 'version'>, at: Date): Promise<void>;
  find(id: string): Promise<FederatedRecord | undefined>;
  /** Takes the next exchange with the AS (version → version + 1) unless another request holds it. */
  claim(id: string, version: number, at: Date): Promise<boolean>;
  /** Stores the AS's new state if `version` is still current. */
  save(
    id: string,
    version: number,
    update: Pick<FederatedRecord, 'state' | 'asNextPollAt' | 'agentRetryAfter'>,
    at: Date,
  ): Promise<boolean>;
}

export type RelayAnswer =
  | {
      readonly kind: 'pending';
      readonly status: 'pending' | 'interacting';
      readonly retryAfter: number;
      readonly requirement?: AAuthRequirement;
      /** Members of the `202` body besides `status` (§Clarification Required). */
      readonly body: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'issued'; readonly authToken: string; readonly expiresIn: number };

export interface FederationRelayDeps {
  readonly clock: Clock;
  readonly pending: PendingService;
  readonly store: FederatedRequestStore;
  readonly client: FederationClient;
  readonly issuedAuthTokens: IssuedAuthTokenStore;
  readonly missionLog?: MissionLog;
  /** The PS's interaction page (`{issuer}/interaction`), given instead of the AS's for R3 requests. */
  readonly interactionUrl?: string;
}

export interface FederationRelay {
  /** Records the auth token the AS issued (§Auth Token Delivery passed) and the mission log entry. */
  recordIssued(facts: FederatedFacts, token: FederatedAuthToken): Promise<void>;
  /** The mission log entry of a four-party request's decision (§Mission Log). */
  log(facts: FederatedFacts, decision: string, extra?: Record<string, unknown>): Promise<void>;
  /** Opens the PS's pending URL for a deferred AS request: its id and the first `202`. */
  defer(
    owner: PendingOwner,
    facts: FederatedFacts,
    state: FederationState,
  ): Promise<{ readonly id: string; readonly answer: RelayAnswer & { kind: 'pending' } }>;
  /** `GET` of the PS's pending URL. Throws the polling errors. */
  poll(record: PendingRecord): Promise<RelayAnswer>;
  /** `POST` to the PS's pending URL: the agent's answer to the AS's clarification. */
  respond(record: PendingRecord, body: unknown): Promise<RelayAnswer>;
  /** `DELETE` of the PS's pending URL: ends it here and at the AS. */
  cancel(record: PendingRecord): Promise<void>;
  /** The R3 page of a deferred request for the person it is for (absent: not theirs, or no R3). */
  interactionView(record: PendingRecord, personId: string): Promise<FederatedInteractionView | undefined>;
}

/** How long one exchange with the AS holds the request against a concurrent poll. */
const EXCHANGE_LEASE_MS = 30_000;

export function isFederatedRecord(record: PendingRecord): boolean {
  return record.kind === FEDERATED_PENDING_KIND;
}

function requirementOf(step: RelayedStep): AAuthRequirement | undefined {
  switch (step.requirement) {
    case 'interaction':
      return { requirement: 'interaction', url: step.url!, code: step.code! };
    case 'approval':
      return { requirement: 'approval' };
    case 'clarification':
      return { requirement: 'clarification' };
    default:
      return undefined;
  }
}

/** The pending status a terminal error leaves on the PS's row. */
function endStatus(err: unknown): PendingStatus {
  if (err instanceof Denied) return 'denied';
  if (err instanceof Expired) return 'expired';
  if (err instanceof Gone) return 'cancelled';
  return 'failed';
}

export function createFederationRelay(deps: FederationRelayDeps): FederationRelay {
  const { store, pending, client, clock } = deps;
  const now = () => clock.now();
  // As at every pending URL here: a poll sooner than Retry-After is slow_down, a little early is fine.
  const minIntervalMs = (seconds: number) => seconds * 1000 - Math.max(500, seconds * 200);

  async function log(facts: FederatedFacts, decision: string, extra: Record<string, unknown> = {}) {
    if (facts.missionS256 === undefined || deps.missionLog === undefined) return;
    const detail: Record<string, unknown> = {
      resource: facts.resource,
      access_server: facts.accessServer,
      decision,
      ...extra,
    };
    if (facts.scope !== undefined) detail.requested_scope = facts.scope;
    if (facts.justification !== undefined) detail.justification = facts.justification;
    // R3: the document the AS decided on, by hash (the PS checked the token names it on delivery).
    if (facts.r3S256 !== undefined) Object.assign(detail, { r3_uri: facts.r3Uri, r3_s256: facts.r3S256 });
    await deps.missionLog.append(facts.missionS256, { kind: 'token_request', detail });
  }

  async function recordIssued(facts: FederatedFacts, token: FederatedAuthToken): Promise<void> {
    const issued = token.claims;
    await deps.issuedAuthTokens.insert({
      jti: issued.jti,
      iss: issued.iss,
      aud: issued.aud,
      sub: issued.sub,
      scope: issued.scope ?? null,
      missionS256: issued.mission_s256 ?? facts.missionS256 ?? null,
      personId: facts.personId,
      agentIss: facts.agent.iss,
      agentSub: facts.agent.sub,
      cnfJkt: facts.cnfJkt,
      issuedAt: new Date(issued.iat * 1000),
      exp: new Date(issued.exp * 1000),
      revokedAt: null,
    });
    await log(facts, 'issued', {
      ...(issued.scope === undefined ? {} : { scope: issued.scope }),
      ...(issued.r3_granted === undefined ? {} : { r3_granted: issued.r3_granted.operations }),
      ...(issued.r3_per_call === undefined ? {} : { r3_per_call: issued.r3_per_call.operations }),
    });
  }

  /** What the agent's next poll may expect, in seconds: never sooner than the AS's own pacing. */
  const agentRetryAfterFor = (state: FederationState) =>
    Math.max(state.retryAfter, pending.retryAfterSeconds);

  /**
   * The requirement the agent is given. An AS interaction on an R3 request goes through the PS's own
   * page (its code on the PS's row); once the person has opened it, the agent only hears that the
   * person is interacting, as at the PS's own pending URLs.
   */
  function agentRequirement(
    step: RelayedStep,
    record: Pick<PendingRecord, 'interactionCode' | 'codeConsumedAt'>,
  ): { requirement?: AAuthRequirement; status?: 'interacting' } {
    const requirement = requirementOf(step);
    if (step.requirement !== 'interaction' || record.interactionCode === null || !deps.interactionUrl) {
      return requirement ? { requirement } : {};
    }
    if (record.codeConsumedAt !== null) return { status: 'interacting' };
    return {
      requirement: {
        requirement: 'interaction',
        url: deps.interactionUrl,
        code: displayInteractionCode(record.interactionCode),
      },
    };
  }

  function answerFor(
    state: FederationState,
    retryAfter: number,
    record: Pick<PendingRecord, 'interactionCode' | 'codeConsumedAt'>,
  ): RelayAnswer & { kind: 'pending' } {
    const { step } = state;
    const relayed = agentRequirement(step, record);
    const requirement = relayed.requirement;
    const body: Record<string, unknown> = {};
    if (step.requirement === 'clarification') {
      body.clarification = step.clarification;
      if (step.options !== undefined) body.options = [...step.options];
      if (step.deadline !== undefined) {
        body.timeout = Math.max(0, Math.floor((step.deadline - now()) / 1000));
      }
    }
    return {
      kind: 'pending',
      status: relayed.status ?? step.status,
      retryAfter,
      ...(requirement ? { requirement } : {}),
      body,
    };
  }

  /** A relayed step worth a mission log entry: what the AS now waits for. */
  function stepChanged(before: RelayedStep | undefined, after: RelayedStep): boolean {
    return (
      after.requirement !== undefined &&
      (before?.requirement !== after.requirement ||
        before.url !== after.url ||
        before.clarification !== after.clarification)
    );
  }

  async function load(record: PendingRecord): Promise<FederatedRecord> {
    const fed = await store.find(record.id);
    if (fed === undefined) throw new ServerError('The federated request state is missing.');
    return fed;
  }

  /** Ends the PS's request with the AS's terminal answer and passes that answer on. */
  async function end(record: PendingRecord, fed: FederatedRecord, err: unknown): Promise<never> {
    const status = endStatus(err);
    await pending.store.finish(record.id, new Date(now()), status);
    await log(fed.facts, isAAuthError(err) ? err.error : 'server_error');
    if (err instanceof Gone) throw new Gone('This pending request has ended.');
    throw err;
  }

  /**
   * Runs one exchange with the AS (already claimed: the row is at `fed.version + 1`) and stores or
   * delivers what came of it.
   */
  async function exchange(
    record: PendingRecord,
    fed: FederatedRecord,
    run: () => Promise<FederationOutcome>,
  ): Promise<RelayAnswer> {
    const version = fed.version + 1;
    let outcome: FederationOutcome;
    try {
      outcome = await run();
    } catch (err) {
      if (err instanceof InvalidRequest) {
        // The agent's answer was refused; the request itself goes on as it was.
        await store.save(
          record.id,
          version,
          { state: fed.state, asNextPollAt: fed.asNextPollAt, agentRetryAfter: fed.agentRetryAfter },
          new Date(now()),
        );
        throw err;
      }
      return end(record, fed, err);
    }
    if (outcome.kind === 'issued') {
      if (!(await pending.store.finish(record.id, new Date(now()), 'approved'))) {
        throw new Gone('This pending request has ended.');
      }
      await recordIssued(fed.facts, outcome.token);
      return { kind: 'issued', authToken: outcome.token.authToken, expiresIn: outcome.token.expiresIn };
    }
    const state = outcome.state;
    const agentRetryAfter = agentRetryAfterFor(state);
    const saved = await store.save(
      record.id,
      version,
      { state, asNextPollAt: new Date(now() + state.retryAfter * 1000), agentRetryAfter },
      new Date(now()),
    );
    if (!saved) throw new Gone('This pending request has ended.');
    if (stepChanged(fed.state.step, state.step)) {
      await log(fed.facts, 'pending', { requirement: state.step.requirement });
    }
    return answerFor(state, agentRetryAfter, record);
  }

  /** Ends a request whose PS-side lifetime is over: `408 expired`, and the AS is told. */
  async function expireIfDue(record: PendingRecord, fed: FederatedRecord): Promise<void> {
    if (now() < record.expiresAt.getTime()) return;
    if (!(await pending.store.finish(record.id, new Date(now()), 'expired'))) {
      throw new Gone('This pending request has ended.');
    }
    await client.cancel(fed.state);
    await log(fed.facts, 'expired');
    throw new Expired('The pending request expired; start a new request.');
  }

  return {
    recordIssued,
    log,

    async defer(owner, facts, state) {
      const created = await pending.create({
        kind: FEDERATED_PENDING_KIND,
        owner,
        // The relay's state lives in federated_request; this names what the row is for.
        request: { access_server: facts.accessServer, resource: facts.resource },
        // R3: a PS code, used only if the AS asks for the person (the PS shows `display` first).
        interaction: facts.r3Plan !== undefined && deps.interactionUrl !== undefined,
      });
      const at = now();
      const agentRetryAfter = agentRetryAfterFor(state);
      await store.insert(
        {
          id: created.record.id,
          facts,
          state,
          asNextPollAt: new Date(at + state.retryAfter * 1000),
          agentRetryAfter,
        },
        new Date(at),
      );
      await log(facts, 'pending', state.step.requirement ? { requirement: state.step.requirement } : {});
      return {
        id: created.record.id,
        answer: answerFor(state, agentRetryAfter, { ...created.record, codeConsumedAt: null }),
      };
    },

    async poll(record) {
      const fed = await load(record);
      await expireIfDue(record, fed);
      const at = now();
      if (record.lastPolledAt && at - record.lastPolledAt.getTime() < minIntervalMs(fed.agentRetryAfter)) {
        await pending.store.markPolled(record.id, new Date(at));
        throw new SlowDown('Polling too frequently; increase the interval by 5 seconds.', {
          headers: { 'retry-after': String(fed.agentRetryAfter + 5) },
        });
      }
      await pending.store.markPolled(record.id, new Date(at));
      // The AS's pacing: between its polls the agent hears the last step again.
      if (at < fed.asNextPollAt.getTime()) return answerFor(fed.state, fed.agentRetryAfter, record);
      if (!(await store.claim(record.id, fed.version, new Date(at + EXCHANGE_LEASE_MS)))) {
        // Another poll is talking to the AS right now.
        return answerFor(fed.state, fed.agentRetryAfter, record);
      }
      return exchange(record, fed, () => client.poll(fed.facts, fed.state));
    },

    async respond(record, body) {
      const fed = await load(record);
      await expireIfDue(record, fed);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidRequest('The request body must be a JSON object.');
      }
      const members = body as Record<string, unknown>;
      // §Agent Response to Clarification: "MUST reject a POST with a missing or unrecognized action".
      if (members.action === undefined) throw new InvalidRequest('action is required.');
      if (members.action === 'updated_request') {
        // The AS holds the original resource token; it cannot be swapped under its pending request.
        throw new InvalidRequest(
          'An updated request cannot replace a request brokered to an access server; start a new token request.',
        );
      }
      if (members.action !== 'clarification_response') {
        throw new InvalidRequest('action is not a recognized value.');
      }
      const text = members.clarification_response;
      if (typeof text !== 'string' || text.trim() === '') {
        throw new InvalidRequest('clarification_response must be a non-empty string.');
      }
      if (text.length > MAX_CLARIFICATION_RESPONSE_LENGTH) {
        throw new InvalidRequest('clarification_response is too long.');
      }
      const question = fed.state.step;
      if (question.requirement !== 'clarification') {
        throw new InvalidRequest('No clarification awaits an answer on this pending URL.');
      }
      if (!(await store.claim(record.id, fed.version, new Date(now() + EXCHANGE_LEASE_MS)))) {
        throw new InvalidRequest('No clarification awaits an answer on this pending URL.');
      }
      await log(fed.facts, 'clarification_response', {
        clarification: question.clarification,
        clarification_response: text,
      });
      return exchange(record, fed, () => client.respond(fed.facts, fed.state, text));
    },

    async interactionView(record, personId) {
      const fed = await store.find(record.id);
      if (fed === undefined || fed.facts.r3Plan === undefined || fed.facts.personId !== personId) {
        return undefined;
      }
      const { step } = fed.state;
      let continueUrl: string | undefined;
      if (step.requirement === 'interaction' && step.url !== undefined && step.code !== undefined) {
        // §User Interaction: the person is sent to `{url}?code={code}`; the url's origin was checked
        // to be the AS's when the step was accepted.
        const target = new URL(step.url);
        target.searchParams.set('code', step.code);
        continueUrl = target.href;
      }
      return {
        accessServer: fed.facts.accessServer,
        resource: fed.facts.resource,
        r3: fed.facts.r3Plan,
        ...(continueUrl === undefined ? {} : { continueUrl }),
      };
    },

    async cancel(record) {
      const fed = await load(record);
      if (!(await pending.store.finish(record.id, new Date(now()), 'cancelled'))) {
        throw new Gone('This pending request has ended.');
      }
      await client.cancel(fed.state);
      await log(fed.facts, 'cancelled');
    },
  };
}
