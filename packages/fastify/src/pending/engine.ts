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
 * The rules of a pending URL every server applies the same way (§Deferred Responses, §Pending URL
 * Security, §Polling Error Codes, §Interaction Code Format): unguessable ids, answering another
 * requester like an unknown id, `slow_down` on a poll sooner than `Retry-After`, the long poll of
 * `Prefer: wait=N`, the polling error a decided or expired request owes, `410` once a terminal answer
 * was given, and the single-use interaction code. Each server keeps its own records and what its
 * request completes into; the engine only reads and writes the columns every pending row has.
 */

/** The columns of a pending row the engine reads. */
export interface PendingCore {
  readonly id: string;
  readonly status: string;
  /** Normalized (no hyphens, uppercase); `null` when no interaction was offered. */
  readonly interactionCode: string | null;
  readonly codeConsumedAt: Date | null;
  readonly retryAfter: number;
  readonly lastPolledAt: Date | null;
  readonly expiresAt: Date;
  /** Set once a terminal answer was given: every later poll is `410`. */
  readonly terminalAt: Date | null;
}

/** The statuses the engine ends a request with (`cancelled` only where a server has it). */
export type PendingEndStatus = 'abandoned' | 'expired' | 'cancelled';

/** The end statuses a server's records know. */
export type EndStatusOf<R extends PendingCore> = Extract<R['status'], PendingEndStatus>;

/** What each server's pending store implements; every conditional write reports whether it took effect. */
export interface PendingCoreStore<R extends PendingCore> {
  find(id: string): Promise<R | undefined>;
  findByCode(normalizedCode: string): Promise<R | undefined>;
  markPolled(id: string, at: Date): Promise<void>;
  /** Sets `terminalAt` (and `status` when given) unless already set. */
  finish(id: string, at: Date, status?: R['status']): Promise<boolean>;
  /** `pending` → `interacting`, bound to `holderId`, unless the code was consumed already. */
  consumeCode(id: string, holderId: string, at: Date, callbackUrl: string | null): Promise<boolean>;
}

export type CodeLookup<R> =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'consumed'; readonly record: R }
  | { readonly kind: 'expired'; readonly record: R }
  | { readonly kind: 'open'; readonly record: R };

/** The timing columns of a new record. */
export interface PendingTimes {
  readonly retryAfter: number;
  readonly lastPolledAt: Date;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface PendingEngineOptions<R extends PendingCore> {
  readonly store: PendingCoreStore<R>;
  readonly clock: Clock;
  /** `{issuer}/interaction`: the `url` of `requirement=interaction`. */
  readonly interactionUrl: string;
  readonly ttlSeconds: number;
  /** `Retry-After` of every pending answer (default 2). */
  readonly retryAfterSeconds?: number;
  /** Long-poll bound (default 30 s): `Prefer: wait=N` never holds a poll longer. */
  readonly maxWaitSeconds?: number;
  /** How often a long poll re-reads the record (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** Real-time sleep between those reads (tests inject one that does not wait). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface PendingEngine<R extends PendingCore> {
  readonly retryAfterSeconds: number;
  readonly maxWaitSeconds: number;
  readonly interactionUrl: string;
  /** A fresh interaction code: as displayed (`XXXX-XXXX`) and as stored. */
  newInteractionCode(): { readonly display: string; readonly normalized: string };
  /** The timing columns of a record created now; the creating `202` counts as its first answer. */
  newTimes(): PendingTimes;
  requirementFor(code: string): AAuthRequirement;
  /** The record of a well-formed id, without any owner check. */
  find(id: string): Promise<R | undefined>;
  /** §Pending URL Security: another requester's pending URL is answered exactly like an unknown one. */
  loadForOwner(id: string, isOwner: (record: R) => boolean): Promise<R>;
  /**
   * `410` once terminal; ends an open record whose time is up, or answers a decided one with its
   * polling error. Returns the record while it is open, or `approved` for the caller to deliver.
   */
  settle(record: R): Promise<R>;
  /** Sets `terminalAt` (and `status`), or `410` when another answer got there first. */
  finishOrGone(id: string, status?: EndStatusOf<R>): Promise<void>;
  /** `slow_down` (recording the poll) when polled sooner than `Retry-After`. */
  checkPace(record: R): Promise<void>;
  markPolled(record: R): Promise<void>;
  /**
   * The long poll of `Prefer: wait=N` ([RFC7240]): re-reads the record every interval for at most
   * `waitSeconds` (capped at `maxWaitSeconds`) and returns the first read that `changed` (by default
   * a new status), ended or ran out of time; otherwise the last read. `record` itself when no read
   * was made. The caller settles what it gets.
   */
  awaitChange(record: R, waitSeconds: number, changed?: (before: R, after: R) => boolean): Promise<R>;
  /** The `status` of a `202` for an open record. */
  openStatus(record: R): 'pending' | 'interacting';
  /** The code is repeated only until the person has opened it; afterwards it is spent (single use). */
  offeredRequirement(record: R): AAuthRequirement | undefined;
  /** The request a typed code names, by its normalized form. */
  lookupCode(input: string): Promise<CodeLookup<R>>;
  /** Marks the request `interacting`, bound to `holderId`; false when someone got there first. */
  consumeCode(record: R, holderId: string, callbackUrl: string | null): Promise<boolean>;
}

const DEFAULT_RETRY_AFTER = 2;
const DEFAULT_MAX_WAIT_SECONDS = 30;
const DEFAULT_POLL_INTERVAL_MS = 250;
/** The shape of the ids `generatePendingId` makes; anything else is never looked up. */
export const PENDING_ID = /^[A-Za-z0-9_-]{43}$/;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const PENDING_GONE_DETAIL = 'This pending request has ended.';

/** 32 random bytes: 256 bits, far above §Pending URL Security's "unguessable". */
export function generatePendingId(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether `id` has the shape `generatePendingId` makes (anything else is never looked up). */
export function isPendingId(id: string): boolean {
  return PENDING_ID.test(id);
}

/** The stored (normalized) code in the grouped form people read: `ABCD-EFGH`. */
export function displayInteractionCode(code: string): string {
  const plain = code.replaceAll('-', '');
  return plain.match(/.{1,4}/g)?.join('-') ?? plain;
}

export function isOpenStatus(status: string): status is 'pending' | 'interacting' {
  return status === 'pending' || status === 'interacting';
}

/**
 * A poll sooner than this after the last answer is `slow_down` (§Polling Error Codes); a little early
 * is tolerated because clients round and networks jitter.
 */
export function minPollIntervalMs(retryAfterSeconds: number): number {
  return retryAfterSeconds * 1000 - Math.max(500, retryAfterSeconds * 200);
}

/**
 * §Deferred Responses: a poll sooner than the record's `Retry-After` allows is answered `slow_down`
 * with the interval raised by 5 s — and still counts as a poll. For servers whose pending records do
 * not go through the engine (the AS's token requests) as much as for the engine itself.
 */
export async function enforcePollPace(
  record: Pick<PendingCore, 'id' | 'lastPolledAt' | 'retryAfter'>,
  at: Date,
  markPolled: (id: string, at: Date) => Promise<void>,
): Promise<void> {
  if (
    record.lastPolledAt &&
    at.getTime() - record.lastPolledAt.getTime() < minPollIntervalMs(record.retryAfter)
  ) {
    await markPolled(record.id, at);
    throw new SlowDown('Polling too frequently; increase the interval by 5 seconds.', {
      headers: { 'retry-after': String(record.retryAfter + 5) },
    });
  }
}

export function createPendingEngine<R extends PendingCore>(
  options: PendingEngineOptions<R>,
): PendingEngine<R> {
  const { store, clock, interactionUrl } = options;
  const retryAfterSeconds = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER;
  const maxWaitSeconds = options.maxWaitSeconds ?? DEFAULT_MAX_WAIT_SECONDS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const sleep = options.sleep ?? defaultSleep;
  const now = () => new Date(clock.now());

  const requirementFor = (code: string): AAuthRequirement => ({
    requirement: 'interaction',
    url: interactionUrl,
    code: displayInteractionCode(code),
  });

  async function finishOrGone(id: string, status?: EndStatusOf<R>): Promise<void> {
    if (!(await store.finish(id, now(), status))) throw new Gone(PENDING_GONE_DETAIL);
  }

  const find = async (id: string) => (isPendingId(id) ? await store.find(id) : undefined);

  return {
    retryAfterSeconds,
    maxWaitSeconds,
    interactionUrl,
    requirementFor,
    find,
    finishOrGone,

    newInteractionCode() {
      const display = generateInteractionCode();
      return { display, normalized: normalizeInteractionCode(display)! };
    },

    newTimes() {
      const at = now();
      return {
        retryAfter: retryAfterSeconds,
        lastPolledAt: at,
        createdAt: at,
        expiresAt: new Date(at.getTime() + options.ttlSeconds * 1000),
      };
    },

    async loadForOwner(id, isOwner) {
      const record = await find(id);
      if (!record || !isOwner(record)) throw new NotFound('No such pending request.');
      return record;
    },

    async settle(record) {
      if (record.terminalAt !== null) throw new Gone(PENDING_GONE_DETAIL);
      if (isOpenStatus(record.status) && clock.now() >= record.expiresAt.getTime()) {
        // §Polling Error Codes: the person opened the code but never decided → abandoned; else expired.
        const status = record.status === 'interacting' ? 'abandoned' : 'expired';
        // Every server's records end as `abandoned` or `expired`; the type cannot see that of `R`.
        await finishOrGone(record.id, status as EndStatusOf<R>);
        if (status === 'abandoned') throw new Abandoned('The person did not complete the interaction.');
        throw new Expired('The pending request expired; start a new request.');
      }
      switch (record.status) {
        case 'denied':
          await finishOrGone(record.id);
          throw new Denied('The person declined the request.');
        case 'abandoned':
          await finishOrGone(record.id);
          throw new Abandoned('The person did not complete the interaction.');
        case 'expired':
          // Set without terminalAt only by the interaction's own end (`interaction_expired`).
          await finishOrGone(record.id);
          throw new Expired('The interaction expired before the person completed it.');
        case 'failed':
          // §Interaction Callback Errors → `server_error`.
          await finishOrGone(record.id);
          throw new ServerError('The interaction could not be completed.');
        case 'cancelled':
        case 'completed':
          await store.finish(record.id, now());
          throw new Gone(PENDING_GONE_DETAIL);
        default:
          return record;
      }
    },

    checkPace(record) {
      return enforcePollPace(record, now(), (id, at) => store.markPolled(id, at));
    },

    markPolled(record) {
      return store.markPolled(record.id, now());
    },

    async awaitChange(record, waitSeconds, changed = (before, after) => before.status !== after.status) {
      const wait = Math.min(Math.max(0, Math.floor(waitSeconds)), maxWaitSeconds);
      const rounds = Math.floor((wait * 1000) / pollIntervalMs);
      let current = record;
      for (let i = 0; i < rounds; i++) {
        await sleep(pollIntervalMs);
        const next = await store.find(record.id);
        if (!next) throw new Gone(PENDING_GONE_DETAIL);
        current = next;
        if (next.terminalAt !== null || changed(record, next) || clock.now() >= next.expiresAt.getTime())
          break;
      }
      return current;
    },

    openStatus(record) {
      return record.status === 'interacting' ? 'interacting' : 'pending';
    },

    offeredRequirement(record) {
      return record.status === 'pending' && record.interactionCode !== null
        ? requirementFor(record.interactionCode)
        : undefined;
    },

    async lookupCode(input) {
      const normalized = normalizeInteractionCode(input);
      if (normalized === undefined) return { kind: 'unknown' };
      const record = await store.findByCode(normalized);
      if (!record) return { kind: 'unknown' };
      if (record.terminalAt !== null || !isOpenStatus(record.status)) return { kind: 'consumed', record };
      if (clock.now() >= record.expiresAt.getTime()) return { kind: 'expired', record };
      if (record.codeConsumedAt !== null) return { kind: 'consumed', record };
      return { kind: 'open', record };
    },

    consumeCode(record, holderId, callbackUrl) {
      return store.consumeCode(record.id, holderId, now(), callbackUrl);
    },
  };
}
