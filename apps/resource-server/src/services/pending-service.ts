import { randomBytes } from 'node:crypto';
import {
  type AAuthRequirement,
  Abandoned,
  type Clock,
  Denied,
  Expired,
  Gone,
  generateInteractionCode,
  NotFound,
  normalizeInteractionCode,
  ServerError,
  SlowDown,
} from '@aauth-ref/core';
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
export interface PendingStore {
  insert(record: NewPendingRecord): Promise<void>;
  find(id: string): Promise<PendingRecord | undefined>;
  findByCode(normalizedCode: string): Promise<PendingRecord | undefined>;
  markPolled(id: string, at: Date): Promise<void>;
  /** Sets `terminalAt` (and `status` when given) unless already set. */
  finish(id: string, at: Date, status?: PendingStatus): Promise<boolean>;
  /** `pending` → `interacting`, bound to `userId`, unless the code was consumed already. */
  consumeCode(id: string, userId: string, at: Date, callbackUrl: string | null): Promise<boolean>;
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

export interface PendingServiceDeps {
  readonly store: PendingStore;
  readonly clock: Clock;
  /** `{issuer}/interaction`: the `url` of `requirement=interaction`. */
  readonly interactionUrl: string;
  readonly ttlSeconds: number;
  readonly retryAfterSeconds?: number;
  /** Long-poll bound (default 30 s): `Prefer: wait=N` never holds a poll longer. */
  readonly maxWaitSeconds?: number;
  /** How often a long poll re-reads the record (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** Real-time sleep between those reads (tests inject one that does not wait). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What a poll of a still-open request owes the agent. */
export type OpenPoll = {
  readonly kind: 'pending';
  readonly status: 'pending' | 'interacting';
  readonly retryAfter: number;
  readonly requirement?: AAuthRequirement;
};

export type CodeLookup =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'consumed'; readonly record: PendingRecord }
  | { readonly kind: 'expired'; readonly record: PendingRecord }
  | { readonly kind: 'open'; readonly record: PendingRecord };

const DEFAULT_RETRY_AFTER = 2;
const DEFAULT_MAX_WAIT_SECONDS = 30;
const DEFAULT_POLL_INTERVAL_MS = 250;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const PENDING_ID = /^[A-Za-z0-9_-]{43}$/;

/** 32 random bytes: 256 bits, far above §Pending URL Security's "unguessable". */
export function generatePendingId(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored (normalized) code in the grouped form people read: `ABCD-EFGH`. */
export function displayInteractionCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code;
}

export function isOpen(status: PendingStatus): status is 'pending' | 'interacting' {
  return status === 'pending' || status === 'interacting';
}

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
  const { store, clock } = deps;
  const retryAfter = deps.retryAfterSeconds ?? DEFAULT_RETRY_AFTER;
  const maxWaitSeconds = deps.maxWaitSeconds ?? DEFAULT_MAX_WAIT_SECONDS;
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const sleep = deps.sleep ?? defaultSleep;
  const now = () => new Date(clock.now());
  // A poll a little early is tolerated: clients round and networks jitter (as at the PS).
  const minIntervalMs = (seconds: number) => seconds * 1000 - Math.max(500, seconds * 200);

  const requirementFor = (code: string): AAuthRequirement => ({
    requirement: 'interaction',
    url: deps.interactionUrl,
    code: displayInteractionCode(code),
  });

  async function finishOrGone(id: string, at: Date, status?: PendingStatus): Promise<void> {
    if (!(await store.finish(id, at, status))) throw new Gone('This pending request has ended.');
  }

  return {
    store,
    retryAfterSeconds: retryAfter,
    interactionUrl: deps.interactionUrl,
    maxWaitSeconds,

    async createInteraction({ ownerJkt, agentIss, scope }) {
      const at = now();
      const code = normalizeInteractionCode(generateInteractionCode())!;
      const id = generatePendingId();
      await store.insert({
        id,
        kind: 'interaction',
        ownerJkt,
        interactionCode: code,
        agentIss,
        scope,
        invocation: null,
        resourceToken: null,
        resourceTokenExp: null,
        retryAfter,
        // The creating 202 counts as the first answer for slow_down.
        lastPolledAt: at,
        createdAt: at,
        expiresAt: new Date(at.getTime() + deps.ttlSeconds * 1000),
      });
      return { id, requirement: requirementFor(code) };
    },

    async createInvocation({ ownerJkt, invocation, resourceToken, resourceTokenExp }) {
      const at = now();
      const id = generatePendingId();
      await store.insert({
        id,
        kind: 'invocation',
        ownerJkt,
        interactionCode: null,
        agentIss: null,
        scope: invocation.scopes.join(' '),
        invocation,
        resourceToken,
        resourceTokenExp,
        retryAfter,
        lastPolledAt: at,
        createdAt: at,
        expiresAt: new Date(at.getTime() + deps.ttlSeconds * 1000),
      });
      return { id };
    },

    async loadForOwner(id, ownerJkt) {
      // §Pending URL Security: another key's pending URL is answered exactly like an unknown one.
      const record = PENDING_ID.test(id) ? await store.find(id) : undefined;
      if (!record || record.ownerJkt !== ownerJkt) throw new NotFound('No such pending request.');
      return record;
    },

    async settle(record) {
      if (record.terminalAt !== null) throw new Gone('This pending request has ended.');
      const at = now();
      if (isOpen(record.status) && at >= record.expiresAt) {
        // §Polling Error Codes: the person opened the code but never decided → abandoned; else expired.
        const status = record.status === 'interacting' ? 'abandoned' : 'expired';
        await finishOrGone(record.id, at, status);
        if (status === 'abandoned') throw new Abandoned('The person did not complete the interaction.');
        throw new Expired('The pending request expired; start a new request.');
      }
      switch (record.status) {
        case 'denied':
          await finishOrGone(record.id, at);
          throw new Denied('The person declined the request.');
        case 'abandoned':
          await finishOrGone(record.id, at);
          throw new Abandoned('The person did not complete the interaction.');
        case 'expired':
          await finishOrGone(record.id, at);
          throw new Expired('The interaction expired before the person completed it.');
        case 'failed':
          await finishOrGone(record.id, at);
          throw new ServerError('The interaction could not be completed.');
        case 'completed':
          throw new Gone('This pending request has ended.');
        default:
          return record;
      }
    },

    async pace(record) {
      const at = now();
      if (
        record.lastPolledAt &&
        at.getTime() - record.lastPolledAt.getTime() < minIntervalMs(record.retryAfter)
      ) {
        await store.markPolled(record.id, at);
        throw new SlowDown('Polling too frequently; increase the interval by 5 seconds.', {
          headers: { 'retry-after': String(record.retryAfter + 5) },
        });
      }
      await store.markPolled(record.id, at);
    },

    async awaitChange(record, waitSeconds) {
      const wait = Math.min(Math.max(0, Math.floor(waitSeconds)), maxWaitSeconds);
      const rounds = Math.floor((wait * 1000) / pollIntervalMs);
      if (rounds === 0) return record;
      let current = record;
      for (let i = 0; i < rounds; i++) {
        await sleep(pollIntervalMs);
        const next = await store.find(record.id);
        if (!next) throw new Gone('This pending request has ended.');
        current = next;
        const changed = next.status !== record.status || next.terminalAt !== null;
        if (changed || clock.now() >= next.expiresAt.getTime()) break;
      }
      await store.markPolled(record.id, now());
      return current;
    },

    openAnswer(record, requirement) {
      const status = record.status === 'interacting' ? 'interacting' : 'pending';
      // The code is repeated only until the person has opened it; afterwards it is spent (single use).
      const offered =
        requirement ??
        (status === 'pending' && record.interactionCode !== null
          ? requirementFor(record.interactionCode)
          : undefined);
      return {
        kind: 'pending',
        status,
        retryAfter: record.retryAfter,
        ...(offered ? { requirement: offered } : {}),
      };
    },

    async lookupCode(input) {
      const normalized = normalizeInteractionCode(input);
      if (normalized === undefined) return { kind: 'unknown' };
      const record = await store.findByCode(normalized);
      if (!record) return { kind: 'unknown' };
      if (record.terminalAt !== null || !isOpen(record.status)) return { kind: 'consumed', record };
      if (now() >= record.expiresAt) return { kind: 'expired', record };
      if (record.codeConsumedAt !== null) return { kind: 'consumed', record };
      return { kind: 'open', record };
    },

    consumeCode(record, userId, callbackUrl) {
      return store.consumeCode(record.id, userId, now(), callbackUrl);
    },

    async findInteraction(id, userId) {
      const record = PENDING_ID.test(id) ? await store.find(id) : undefined;
      if (record?.kind !== 'interaction' || record.userId !== userId) return undefined;
      if (record.status !== 'interacting' || record.terminalAt !== null) return undefined;
      return record;
    },

    decide(record, userId, status) {
      return store.decide(record.id, userId, status);
    },
  };
}
