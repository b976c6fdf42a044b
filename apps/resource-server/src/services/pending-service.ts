import type { AAuthRequirement } from '@aauth-ref/core';
import {
  createPendingEngine,
  type CodeLookup as EngineCodeLookup,
  generatePendingId,
  type PendingCoreStore,
  type PendingEngineOptions,
} from '@aauth-ref/fastify';
import type { NoteStore, PersonRef } from './ports.js';

/**
 * The resource's deferred responses (§Deferred Responses, §Pending URL Security, §Polling Error
 * Codes), kept in the database so any instance answers any poll and a restart loses nothing. Two
 * kinds: a resource-managed interaction (§Resource-Managed Authorization) that ends in a session
 * token, and a held invocation waiting for an auth token (§Deferred Delivery). Every record is bound
 * to the thumbprint of the key that created it (for a held invocation, the resource token's
 * `agent_jkt`); any other key gets the `404` an unknown id gets.
 */

export type PendingKind = 'interaction' | 'invocation';

export type PendingStatus =
  | 'pending'
  | 'interacting'
  | 'approved'
  | 'denied'
  | 'abandoned'
  | 'expired'
  | 'failed'
  | 'completed';

/** What the person's decision on the interaction page can set. */
export type DecidedStatus = 'approved' | 'denied' | 'abandoned' | 'expired' | 'failed';

/** The held call of §Deferred Delivery: enough to run it later without the agent re-sending it. */
export interface HeldInvocation {
  readonly method: string;
  readonly path: string;
  /** The request body as received (UTF-8), `null` when there was none. */
  readonly body: string | null;
  /** base64url SHA-256 of the body bytes (of the empty string when there was none). */
  readonly body_sha256: string;
  readonly action: { readonly kind: 'delete_note'; readonly note_id: string };
  readonly scopes: readonly string[];
  /** R3 §Per-Call Proposals: the proposal the held call's resource token references. */
  readonly r3?: { readonly r3_uri: string; readonly r3_s256: string };
  /** Whose data: `(ps, sub)` the resource token named. */
  readonly person: PersonRef;
  /** The person token the resource token names (`presented_jti`), by `(iss, jti)`. */
  readonly person_token: { readonly iss: string; readonly jti: string };
}

/** The held call's answer, stored and replayed to the same auth token. */
export interface InvocationResult {
  readonly status: number;
  readonly body: unknown;
}

export interface PendingRecord {
  readonly id: string;
  readonly kind: PendingKind;
  readonly ownerJkt: string;
  readonly status: PendingStatus;
  readonly interactionCode: string | null;
  readonly codeConsumedAt: Date | null;
  readonly userId: string | null;
  readonly callbackUrl: string | null;
  /**
   * The `iss` of the agent token that started an interaction: the Agent Provider whose
   * `callback_endpoint` a `callback` must be. `null` for held invocations.
   */
  readonly agentIss: string | null;
  readonly scope: string | null;
  readonly invocation: HeldInvocation | null;
  readonly resourceToken: string | null;
  readonly resourceTokenExp: Date | null;
  readonly result: InvocationResult | null;
  readonly authIss: string | null;
  readonly authJti: string | null;
  readonly resultUntil: Date | null;
  readonly retryAfter: number;
  readonly lastPolledAt: Date | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Set once a terminal answer was given: every later poll is `410` (but see the auth-token replay). */
  readonly terminalAt: Date | null;
}

export type NewPendingRecord = Pick<
  PendingRecord,
  | 'id'
  | 'kind'
  | 'ownerJkt'
  | 'interactionCode'
  | 'agentIss'
  | 'scope'
  | 'invocation'
  | 'resourceToken'
  | 'resourceTokenExp'
  | 'retryAfter'
  | 'lastPolledAt'
  | 'createdAt'
  | 'expiresAt'
>;

/** The auth token a held invocation ran on, and how long its result is kept for it. */
export interface InvocationClaim {
  readonly authIss: string;
  readonly authJti: string;
  readonly resultUntil: Date;
  readonly at: Date;
}

/** A session token row to write when an approved interaction is delivered. */
export interface NewSessionTokenRow {
  readonly tokenHash: string;
  readonly grantId: string;
  readonly userId: string;
  readonly agentJkt: string;
  /** The agent identity (agent token `iss`, `sub`) the grant is bound to; `null` = bound to `agentJkt`. */
  readonly agentIss: string | null;
  readonly agentSub: string | null;
  readonly scope: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** Persistence of pending requests; every conditional write reports whether it took effect. */
export interface PendingStore extends PendingCoreStore<PendingRecord> {
  insert(record: NewPendingRecord): Promise<void>;
  /** `interacting` (held by `userId`) → the person's decision. */
  decide(id: string, userId: string, status: DecidedStatus): Promise<boolean>;
  setResourceToken(id: string, token: string, exp: Date): Promise<void>;
  /** An `approved` interaction → terminal, writing its session token in the same transaction. */
  deliverSession(id: string, at: Date, session: NewSessionTokenRow): Promise<boolean>;
  /**
   * Runs a `pending` held invocation once, in one transaction with marking it completed and storing
   * its result; `undefined` when another poll got there first.
   */
  executeInvocation(
    id: string,
    claim: InvocationClaim,
    run: (notes: NoteStore) => Promise<InvocationResult>,
  ): Promise<InvocationResult | undefined>;
}

export interface PendingServiceDeps extends PendingEngineOptions<PendingRecord> {
  readonly store: PendingStore;
}

/** What a poll of a still-open request owes the agent. */
export type OpenPoll = {
  readonly kind: 'pending';
  readonly status: 'pending' | 'interacting';
  readonly retryAfter: number;
  readonly requirement?: AAuthRequirement;
};

export type CodeLookup = EngineCodeLookup<PendingRecord>;

export interface PendingService {
  readonly store: PendingStore;
  readonly retryAfterSeconds: number;
  readonly interactionUrl: string;
  /** The most a poll's `Prefer: wait=N` is honoured for, in seconds. */
  readonly maxWaitSeconds: number;
  /**
   * A resource-managed interaction: the record and its `requirement=interaction`. `agentIss` is the
   * `iss` of the agent token that asked (the AP whose `callback_endpoint` binds the page's `callback`).
   */
  createInteraction(input: {
    ownerJkt: string;
    agentIss: string;
    scope: string;
  }): Promise<{ id: string; requirement: AAuthRequirement }>;
  /** A held invocation (§Deferred Delivery) with the resource token offered for it. */
  createInvocation(input: {
    ownerJkt: string;
    invocation: HeldInvocation;
    resourceToken: string;
    resourceTokenExp: Date;
  }): Promise<{ id: string }>;
  /**
   * The record of a poll: `NotFound` for an unknown id or another key. Terminal records are returned
   * as they are (the caller decides between `410` and the auth-token replay).
   */
  loadForOwner(id: string, ownerJkt: string): Promise<PendingRecord>;
  /**
   * Ends an open record whose time is up, or answers a decided interaction with its polling error.
   * Returns the record when it is still open (or approved, for the caller to deliver).
   */
  settle(record: PendingRecord): Promise<PendingRecord>;
  /** `slow_down` when polled sooner than `Retry-After`; else records the poll. */
  pace(record: PendingRecord): Promise<void>;
  /**
   * The long poll of §Deferred Responses (`Prefer: wait=N`, [RFC7240]): re-reads `record` every
   * interval for at most `waitSeconds` (capped at `maxWaitSeconds`) and returns as soon as its status
   * changed, it ended or its time is up; otherwise the last read once the wait is over. Records the
   * poll at the end, so the agent's `Retry-After` counts from the answer it got.
   */
  awaitChange(record: PendingRecord, waitSeconds: number): Promise<PendingRecord>;
  /** The `202` of an open record. */
  openAnswer(record: PendingRecord, requirement?: AAuthRequirement): OpenPoll;
  lookupCode(input: string): Promise<CodeLookup>;
  consumeCode(record: PendingRecord, userId: string, callbackUrl: string | null): Promise<boolean>;
  /** The open interaction `userId` holds, if any. */
  findInteraction(id: string, userId: string): Promise<PendingRecord | undefined>;
  decide(record: PendingRecord, userId: string, status: DecidedStatus): Promise<boolean>;
}

export function createPendingService(deps: PendingServiceDeps): PendingService {
  const { store } = deps;
  const engine = createPendingEngine<PendingRecord>(deps);

  /** An interaction or a held invocation created now, answered by its first `202`. */
  async function insert(
    fields: Omit<NewPendingRecord, 'id' | 'retryAfter' | 'lastPolledAt' | 'createdAt' | 'expiresAt'>,
  ): Promise<string> {
    const id = generatePendingId();
    await store.insert({ id, ...fields, ...engine.newTimes() });
    return id;
  }

  return {
    store,
    retryAfterSeconds: engine.retryAfterSeconds,
    interactionUrl: engine.interactionUrl,
    maxWaitSeconds: engine.maxWaitSeconds,

    async createInteraction({ ownerJkt, agentIss, scope }) {
      const code = engine.newInteractionCode().normalized;
      const id = await insert({
        kind: 'interaction',
        ownerJkt,
        interactionCode: code,
        agentIss,
        scope,
        invocation: null,
        resourceToken: null,
        resourceTokenExp: null,
      });
      return { id, requirement: engine.requirementFor(code) };
    },

    async createInvocation({ ownerJkt, invocation, resourceToken, resourceTokenExp }) {
      const id = await insert({
        kind: 'invocation',
        ownerJkt,
        interactionCode: null,
        agentIss: null,
        scope: invocation.scopes.join(' '),
        invocation,
        resourceToken,
        resourceTokenExp,
      });
      return { id };
    },

    // Terminal records are returned too: a held invocation's result is replayed to the same auth token.
    loadForOwner: (id, ownerJkt) => engine.loadForOwner(id, (record) => record.ownerJkt === ownerJkt),
    settle: engine.settle,

    async pace(record) {
      await engine.checkPace(record);
      await engine.markPolled(record);
    },

    async awaitChange(record, waitSeconds) {
      const current = await engine.awaitChange(record, waitSeconds);
      // Records the poll once it answers, so the agent's `Retry-After` counts from that answer.
      if (current !== record) await engine.markPolled(current);
      return current;
    },

    openAnswer(record, requirement) {
      const offered = requirement ?? engine.offeredRequirement(record);
      return {
        kind: 'pending',
        status: engine.openStatus(record),
        retryAfter: record.retryAfter,
        ...(offered ? { requirement: offered } : {}),
      };
    },

    lookupCode: engine.lookupCode,
    consumeCode: engine.consumeCode,

    async findInteraction(id, userId) {
      const record = await engine.find(id);
      if (record?.kind !== 'interaction' || record.userId !== userId) return undefined;
      if (record.status !== 'interacting' || record.terminalAt !== null) return undefined;
      return record;
    },

    decide(record, userId, status) {
      return store.decide(record.id, userId, status);
    },
  };
}
