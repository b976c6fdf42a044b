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

/**
 * Deferred responses (§Deferred Responses, §Pending URL Security, §Polling Error Codes) kept in the
 * database, so a restart loses nothing and any instance answers any poll. The service decides; the
 * routes render. Every poll is bound to the requester that created the request: the agent
 * `(iss, sub)`, or for an enrollment the durable key's thumbprint.
 */

export type PendingKind =
  | 'enrollment'
  | 'person_token'
  | 'auth_token'
  /** A mission proposal the person reviews (§Mission Creation). */
  | 'mission'
  /** A completion proposal the person reviews (§Mission Completion). */
  | 'mission_completion'
  /** A mission update the PS left to the person (§Mission Update). */
  | 'mission_update'
  /** A four-party request the AS deferred, relayed to the agent (§AS Response; federation-relay.ts). */
  | 'federated_auth_token'
  /** A permission request the person decides (§Permission Endpoint). */
  | 'permission'
  /** An `interaction` or `payment` relayed to the person (§Interaction Endpoint). */
  | 'interaction_relay'
  /** A `question` the person answers (§Interaction Endpoint). */
  | 'question';

export type PendingStatus =
  | 'pending'
  | 'interacting'
  | 'approved'
  | 'denied'
  | 'abandoned'
  | 'expired'
  | 'cancelled'
  /** The resource's own interaction failed (§Interaction Callback Errors → `server_error`). */
  | 'failed';

/** One question of the clarification chat and the agent's answer (§Clarification Chat). */
export interface ClarificationTurn {
  /** Markdown from the person; sanitized when shown. */
  readonly question: string;
  /** ISO 8601. */
  readonly asked_at: string;
  readonly answer?: ClarificationAnswer;
}

export type ClarificationAnswer =
  | { readonly action: 'clarification_response'; readonly text: string; readonly answered_at: string }
  | {
      readonly action: 'updated_request';
      readonly justification?: string;
      /** The scope of the new resource token (absent when it has none). */
      readonly scope?: string;
      readonly answered_at: string;
    };

/** The `clarification` column: the whole chat, oldest first. */
export interface ClarificationState {
  readonly turns: readonly ClarificationTurn[];
}

/** A clarification step to write: conditional on `step` still being the current one. */
export interface ClarificationWrite {
  readonly step: number;
  readonly clarification: ClarificationState;
  /** Only the person who holds the interaction may ask. */
  readonly personId?: string;
  /** An updated request replaces what the platform completes after consent. */
  readonly request?: unknown;
}

/** Who may poll: the agent, or (enrollment) the durable key. */
export interface PendingOwner {
  readonly agentIss: string | null;
  readonly agentSub: string | null;
  readonly durableJkt: string | null;
}

export interface PendingRecord {
  readonly id: string;
  readonly kind: PendingKind;
  readonly owner: PendingOwner;
  readonly status: PendingStatus;
  /** What the platform needs to complete the request after the person's decision (plain JSON). */
  readonly request: unknown;
  /** The `200` body once approved. */
  readonly result: unknown;
  /** Normalized (no hyphens, uppercase); `null` when no interaction was offered. */
  readonly interactionCode: string | null;
  readonly codeConsumedAt: Date | null;
  readonly personId: string | null;
  readonly callbackUrl: string | null;
  readonly clarification: ClarificationState | null;
  /** Steps of the chat (each question, each answer): odd while a question awaits the agent. */
  readonly clarificationStep: number;
  /** §Resource-Initiated Interaction: the per-flow callback segment, once the interstitial was shown. */
  readonly resourceCallbackId: string | null;
  /** When the resource's own interaction came back successfully. */
  readonly resourceDoneAt: Date | null;
  readonly retryAfter: number;
  readonly lastPolledAt: Date | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Set once a terminal answer was given (or the request was cancelled): every later poll is `410`. */
  readonly terminalAt: Date | null;
}

export type NewPendingRecord = Omit<
  PendingRecord,
  | 'status'
  | 'result'
  | 'codeConsumedAt'
  | 'personId'
  | 'callbackUrl'
  | 'terminalAt'
  | 'clarification'
  | 'clarificationStep'
  | 'resourceCallbackId'
  | 'resourceDoneAt'
>;

/** What an `interacting` request may end as by the person's or the resource's doing. */
export type DecidedStatus = 'denied' | 'abandoned' | 'expired' | 'failed';

/** Persistence of pending requests; every conditional write reports whether it took effect. */
export interface PendingStore {
  insert(record: NewPendingRecord): Promise<void>;
  find(id: string): Promise<PendingRecord | undefined>;
  findByCode(normalizedCode: string): Promise<PendingRecord | undefined>;
  markPolled(id: string, at: Date): Promise<void>;
  /** Sets `terminalAt` (and `status` when given) unless already set. */
  finish(id: string, at: Date, status?: PendingStatus): Promise<boolean>;
  /** `pending` → `interacting`, bound to `personId`, unless the code was consumed already. */
  consumeCode(id: string, personId: string, at: Date, callbackUrl: string | null): Promise<boolean>;
  /** `interacting` (by `personId`) → a failed end. */
  decide(id: string, personId: string, status: DecidedStatus): Promise<boolean>;
  /** Writes the next step of the chat of an `interacting` request, if `step` is still current. */
  writeClarification(id: string, write: ClarificationWrite): Promise<boolean>;
  /** Sets the resource callback segment unless one is set already. */
  setResourceCallback(id: string, personId: string, callbackId: string): Promise<boolean>;
  findByResourceCallback(callbackId: string): Promise<PendingRecord | undefined>;
  /** Marks the resource's own interaction done, once. */
  completeResourceInteraction(id: string, personId: string, at: Date): Promise<boolean>;
}

export interface PendingServiceDeps {
  readonly store: PendingStore;
  readonly clock: Clock;
  /** The interaction page URL (`{issuer}/interaction`), the `url` of `requirement=interaction`. */
  readonly interactionUrl: string;
  readonly ttlSeconds: number;
  /** `Retry-After` of every pending answer (default 2). */
  readonly retryAfterSeconds?: number;
  /** Long-poll bound (default 30 s): `Prefer: wait=N` never holds a request longer. */
  readonly maxWaitSeconds?: number;
  /** How often a long poll re-reads the row (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** Real-time sleep for long polls (tests may shorten it). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface CreatedPending {
  readonly record: NewPendingRecord;
  /** The code as displayed (`XXXX-XXXX`); absent when no interaction was offered. */
  readonly code?: string;
  readonly requirement?: AAuthRequirement;
}

export type PollAnswer =
  | {
      readonly kind: 'pending';
      readonly status: 'pending' | 'interacting';
      readonly retryAfter: number;
      readonly requirement?: AAuthRequirement;
      /** Members added to the `202` body (§Clarification Required: `clarification`, `timeout`). */
      readonly body?: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'result'; readonly result: unknown };

export type CodeLookup =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'consumed'; readonly record: PendingRecord }
  | { readonly kind: 'expired'; readonly record: PendingRecord }
  | { readonly kind: 'open'; readonly record: PendingRecord };

export interface PendingService {
  create(input: {
    kind: PendingKind;
    owner: PendingOwner;
    request: unknown;
    interaction: boolean;
  }): Promise<CreatedPending>;
  /**
   * One poll (`GET` the pending URL) of a record `loadForOwner` just returned — the route loads it
   * once, to tell a relayed request from its own. Throws the polling errors and `Gone`.
   */
  poll(record: PendingRecord, waitSeconds?: number): Promise<PollAnswer>;
  /** `DELETE` the pending URL of a record `loadForOwner` returned: later polls are `410`. */
  cancel(record: PendingRecord): Promise<void>;
  /** The request a typed code names, by its normalized form. */
  lookupCode(input: string): Promise<CodeLookup>;
  /** Marks the request `interacting` and binds it to the person; false when someone got there first. */
  consumeCode(record: PendingRecord, personId: string, callbackUrl: string | null): Promise<boolean>;
  deny(record: PendingRecord, personId: string): Promise<boolean>;
  /** The pending record if `personId` holds its interaction and it is still open. */
  findInteraction(id: string, personId: string): Promise<PendingRecord | undefined>;
  /** The record `personId` holds the interaction of, open or not (e.g. to say it was withdrawn). */
  findHeldBy(id: string, personId: string): Promise<PendingRecord | undefined>;
  /** Loads an open request for its owner: `NotFound` for another requester, `Gone` once terminal. */
  loadForOwner(id: string, owner: PendingOwner): Promise<PendingRecord>;
  /** Ends an `interacting` request held by `personId` with a failure status. */
  fail(record: PendingRecord, personId: string, status: DecidedStatus): Promise<boolean>;
  readonly store: PendingStore;
  readonly retryAfterSeconds: number;
}

const DEFAULT_RETRY_AFTER = 2;
const DEFAULT_MAX_WAIT = 30;
const DEFAULT_POLL_INTERVAL_MS = 250;

/** 32 random bytes: 256 bits, far above §Pending URL Security's "unguessable". */
export function generatePendingId(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored (normalized) code in the grouped form people read: `ABCD-EFGH`. */
export function displayInteractionCode(code: string): string {
  const plain = code.replaceAll('-', '');
  return plain.match(/.{1,4}/g)?.join('-') ?? plain;
}

const PENDING_ID = /^[A-Za-z0-9_-]{43}$/;

function sameOwner(a: PendingOwner, b: PendingOwner): boolean {
  return a.agentIss === b.agentIss && a.agentSub === b.agentSub && a.durableJkt === b.durableJkt;
}

/** The question that still awaits the agent's answer, if any. */
export function openQuestion(record: PendingRecord): ClarificationTurn | undefined {
  if (record.status !== 'interacting' || record.clarificationStep % 2 === 0) return undefined;
  const last = record.clarification?.turns.at(-1);
  return last !== undefined && last.answer === undefined ? last : undefined;
}

function isOpen(status: PendingStatus): status is 'pending' | 'interacting' {
  return status === 'pending' || status === 'interacting';
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createPendingService(deps: PendingServiceDeps): PendingService {
  const { store, clock } = deps;
  const retryAfter = deps.retryAfterSeconds ?? DEFAULT_RETRY_AFTER;
  const maxWait = deps.maxWaitSeconds ?? DEFAULT_MAX_WAIT;
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const sleep = deps.sleep ?? defaultSleep;
  const now = () => new Date(clock.now());

  // A poll sooner than Retry-After is slow_down (§Polling Error Codes); a little early is tolerated
  // because clients round and networks jitter.
  const minIntervalMs = (seconds: number) => seconds * 1000 - Math.max(500, seconds * 200);

  const requirementFor = (code: string): AAuthRequirement => ({
    requirement: 'interaction',
    url: deps.interactionUrl,
    code: displayInteractionCode(code),
  });

  /** Resolves a stored row to the answer it owes, finishing it when that answer is terminal. */
  async function settle(record: PendingRecord): Promise<PollAnswer | undefined> {
    const at = now();
    if (isOpen(record.status) && at >= record.expiresAt) {
      // §Polling Error Codes: the person opened the code but never decided → abandoned; else expired.
      const status = record.status === 'interacting' ? 'abandoned' : 'expired';
      if (!(await store.finish(record.id, at, status))) throw new Gone('This pending request has ended.');
      if (status === 'abandoned') throw new Abandoned('The person did not complete the interaction.');
      throw new Expired('The pending request expired; start a new request.');
    }
    switch (record.status) {
      case 'approved':
        if (!(await store.finish(record.id, at))) throw new Gone('This pending request has ended.');
        return { kind: 'result', result: record.result };
      case 'denied':
        if (!(await store.finish(record.id, at))) throw new Gone('This pending request has ended.');
        throw new Denied('The person declined the request.');
      case 'abandoned':
        if (!(await store.finish(record.id, at))) throw new Gone('This pending request has ended.');
        throw new Abandoned('The person did not complete the interaction.');
      case 'expired':
        // Set without terminalAt only by a resource callback (`interaction_expired`).
        if (!(await store.finish(record.id, at))) throw new Gone('This pending request has ended.');
        throw new Expired('The interaction expired before the person completed it.');
      case 'failed':
        if (!(await store.finish(record.id, at))) throw new Gone('This pending request has ended.');
        throw new ServerError('The interaction could not be completed.');
      case 'cancelled':
        await store.finish(record.id, at);
        throw new Gone('This pending request has ended.');
      default:
        return undefined;
    }
  }

  async function load(id: string, owner: PendingOwner): Promise<PendingRecord> {
    // §Pending URL Security: a pending URL of another requester is answered exactly like an unknown one.
    const record = PENDING_ID.test(id) ? await store.find(id) : undefined;
    if (!record || !sameOwner(record.owner, owner)) throw new NotFound('No such pending request.');
    if (record.terminalAt !== null) throw new Gone('This pending request has ended.');
    return record;
  }

  return {
    retryAfterSeconds: retryAfter,
    store,
    loadForOwner: load,

    async create({ kind, owner, request, interaction }) {
      const at = now();
      const display = interaction ? generateInteractionCode() : undefined;
      const record: NewPendingRecord = {
        id: generatePendingId(),
        kind,
        owner,
        request,
        interactionCode: display === undefined ? null : normalizeInteractionCode(display)!,
        retryAfter,
        // The 202 that created the request counts as the first answer for slow_down.
        lastPolledAt: at,
        createdAt: at,
        expiresAt: new Date(at.getTime() + deps.ttlSeconds * 1000),
      };
      await store.insert(record);
      return display === undefined
        ? { record }
        : { record, code: display, requirement: requirementFor(display) };
    },

    async poll(loaded, waitSeconds = 0) {
      let record = loaded;
      const settled = await settle(record);
      if (settled) return settled;
      if (
        record.lastPolledAt &&
        clock.now() - record.lastPolledAt.getTime() < minIntervalMs(record.retryAfter)
      ) {
        await store.markPolled(record.id, now());
        throw new SlowDown('Polling too frequently; increase the interval by 5 seconds.', {
          headers: { 'retry-after': String(record.retryAfter + 5) },
        });
      }
      const wait = Math.min(Math.max(0, Math.floor(waitSeconds)), maxWait);
      const rounds = Math.floor((wait * 1000) / pollIntervalMs);
      for (let i = 0; i < rounds; i++) {
        await sleep(pollIntervalMs);
        const next = await store.find(record.id);
        if (!next || next.terminalAt !== null) throw new Gone('This pending request has ended.');
        const answer = await settle(next);
        if (answer) return answer;
        const changed = next.status !== record.status || next.clarificationStep !== record.clarificationStep;
        record = next;
        if (changed) break;
      }
      await store.markPolled(record.id, now());
      const status = record.status === 'interacting' ? 'interacting' : 'pending';
      // The code is repeated only until the person has opened it; afterwards it is spent (single use).
      const offerCode = status === 'pending' && record.interactionCode !== null;
      const question = openQuestion(record);
      if (question !== undefined) {
        // §Clarification Required: the question, and how long the agent has to answer it.
        const timeout = Math.max(0, Math.floor((record.expiresAt.getTime() - clock.now()) / 1000));
        return {
          kind: 'pending',
          status,
          retryAfter: record.retryAfter,
          requirement: { requirement: 'clarification' },
          body: { clarification: question.question, timeout },
        };
      }
      return {
        kind: 'pending',
        status,
        retryAfter: record.retryAfter,
        ...(offerCode ? { requirement: requirementFor(record.interactionCode!) } : {}),
      };
    },

    async cancel(record) {
      if (!(await store.finish(record.id, now(), 'cancelled')))
        throw new Gone('This pending request has ended.');
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

    consumeCode(record, personId, callbackUrl) {
      return store.consumeCode(record.id, personId, now(), callbackUrl);
    },

    deny(record, personId) {
      return store.decide(record.id, personId, 'denied');
    },

    async findHeldBy(id, personId) {
      const record = PENDING_ID.test(id) ? await store.find(id) : undefined;
      return record?.personId === personId ? record : undefined;
    },

    fail(record, personId, status) {
      return store.decide(record.id, personId, status);
    },

    async findInteraction(id, personId) {
      const record = PENDING_ID.test(id) ? await store.find(id) : undefined;
      if (!record || record.personId !== personId || record.status !== 'interacting') return undefined;
      if (record.terminalAt !== null || now() >= record.expiresAt) return undefined;
      return record;
    },
  };
}
