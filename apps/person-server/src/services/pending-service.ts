import { type AAuthRequirement, Gone } from '@aauth-ref/core';
import {
  createPendingEngine,
  type CodeLookup as EngineCodeLookup,
  generatePendingId,
  PENDING_GONE_DETAIL,
  type PendingCoreStore,
  type PendingEngineOptions,
} from '@aauth-ref/fastify';

export { displayInteractionCode, generatePendingId } from '@aauth-ref/fastify';

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
export interface PendingStore extends PendingCoreStore<PendingRecord> {
  insert(record: NewPendingRecord): Promise<void>;
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

export interface PendingServiceDeps extends PendingEngineOptions<PendingRecord> {
  readonly store: PendingStore;
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

export type CodeLookup = EngineCodeLookup<PendingRecord>;

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

/** The question that still awaits the agent's answer, if any. */
export function openQuestion(record: PendingRecord): ClarificationTurn | undefined {
  if (record.status !== 'interacting' || record.clarificationStep % 2 === 0) return undefined;
  const last = record.clarification?.turns.at(-1);
  return last !== undefined && last.answer === undefined ? last : undefined;
}

function sameOwner(a: PendingOwner, b: PendingOwner): boolean {
  return a.agentIss === b.agentIss && a.agentSub === b.agentSub && a.durableJkt === b.durableJkt;
}

export function createPendingService(deps: PendingServiceDeps): PendingService {
  const { store, clock } = deps;
  const engine = createPendingEngine<PendingRecord>(deps);
  const now = () => new Date(clock.now());

  /** The `200` an approved record owes, once; `undefined` while it is open. */
  async function resultOf(record: PendingRecord): Promise<PollAnswer | undefined> {
    const settled = await engine.settle(record);
    if (settled.status !== 'approved') return undefined;
    await engine.finishOrGone(settled.id);
    return { kind: 'result', result: settled.result };
  }

  return {
    retryAfterSeconds: engine.retryAfterSeconds,
    store,

    async loadForOwner(id, owner) {
      const record = await engine.loadForOwner(id, (found) => sameOwner(found.owner, owner));
      if (record.terminalAt !== null) throw new Gone(PENDING_GONE_DETAIL);
      return record;
    },

    async create({ kind, owner, request, interaction }) {
      const code = interaction ? engine.newInteractionCode() : undefined;
      const record: NewPendingRecord = {
        id: generatePendingId(),
        kind,
        owner,
        request,
        interactionCode: code?.normalized ?? null,
        ...engine.newTimes(),
      };
      await store.insert(record);
      return code === undefined
        ? { record }
        : { record, code: code.display, requirement: engine.requirementFor(code.display) };
    },

    async poll(loaded, waitSeconds = 0) {
      const settled = await resultOf(loaded);
      if (settled) return settled;
      await engine.checkPace(loaded);
      // A new question (or answer) in the chat is news for a waiting agent too.
      const record = await engine.awaitChange(
        loaded,
        waitSeconds,
        (before, after) =>
          before.status !== after.status || before.clarificationStep !== after.clarificationStep,
      );
      if (record !== loaded) {
        const answer = await resultOf(record);
        if (answer) return answer;
      }
      await engine.markPolled(record);
      const status = engine.openStatus(record);
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
      const requirement = engine.offeredRequirement(record);
      return {
        kind: 'pending',
        status,
        retryAfter: record.retryAfter,
        ...(requirement ? { requirement } : {}),
      };
    },

    cancel(record) {
      return engine.finishOrGone(record.id, 'cancelled');
    },

    lookupCode: engine.lookupCode,
    consumeCode: engine.consumeCode,

    deny(record, personId) {
      return store.decide(record.id, personId, 'denied');
    },

    async findHeldBy(id, personId) {
      const record = await engine.find(id);
      return record?.personId === personId ? record : undefined;
    },

    fail(record, personId, status) {
      return store.decide(record.id, personId, status);
    },

    async findInteraction(id, personId) {
      const record = await engine.find(id);
      if (!record || record.personId !== personId || record.status !== 'interacting') return undefined;
      if (record.terminalAt !== null || now() >= record.expiresAt) return undefined;
      return record;
    },
  };
}
