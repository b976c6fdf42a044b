import { type Clock, TemporarilyUnavailable } from '@aauth-ref/core';

/**
 * The revocation state the verification hook consults on every signed request (§Token Revocation),
 * held in memory per instance so a warm request costs no database round trip.
 *
 * Every instance loads the unexpired revocations at start and then polls the shared table for rows
 * recorded since its watermark (`recorded_at`, the database's own clock) every `refreshIntervalMs`;
 * the instance that accepts a `POST /revoke` also inserts the pair locally at once. Bounds
 * (docs/spec-decisions.md, *Resource server: revocation state in memory*):
 *
 * - the receiving instance refuses a revoked token from the next request on;
 * - any other instance within `refreshIntervalMs` plus one poll when the database answers;
 * - and never later than `maxStalenessMs` after its last successful poll: past that, a request
 *   waits for a poll of its own; when that poll fails too (database down) the request is refused
 *   with `503 temporarily_unavailable` — fail closed, never an answer from state that may miss a
 *   revocation.
 *
 * Rows are read again for `overlapMs` behind the watermark, so a revocation whose transaction
 * committed after a later one had already been seen is still picked up.
 */

export interface RevocationRow {
  readonly iss: string;
  readonly jti: string;
  /** When the revoked token expires; `null` = kept until the row is removed. */
  readonly expiresAt: Date | null;
  /** When the row was written, by the database clock. */
  readonly recordedAt: Date;
}

/** Where the shared revocation rows are read from (the Prisma store; tests inject a failing one). */
export interface RevocationFeed {
  /**
   * Revocations recorded at or after `since` (all of them when `undefined`) whose token has not
   * expired before `unexpiredAfter`.
   */
  listRecordedSince(since: Date | undefined, unexpiredAfter: Date): Promise<RevocationRow[]>;
}

export interface RevocationSetOptions {
  readonly feed: RevocationFeed;
  readonly clock: Clock;
  /** How often the timer polls (default 1 000 ms). */
  readonly refreshIntervalMs?: number;
  /** Oldest state a request may be answered from before it waits for a poll (default 3 000 ms). */
  readonly maxStalenessMs?: number;
  /** How far behind the watermark each poll reads again (default 10 000 ms). */
  readonly overlapMs?: number;
}

export interface RevocationSet {
  /** The hook's check: `(iss, jti)` revoked? Throws `TemporarilyUnavailable` when the state is too old and cannot be refreshed. */
  isRevoked(iss: string, jti: string): Promise<boolean>;
  /** Records a revocation this instance just stored, effective at once. */
  add(iss: string, jti: string, expiresAt: Date | null): void;
  /** One poll (at most one at a time; concurrent callers share it). Rejects when the feed fails. */
  refresh(): Promise<void>;
  readonly refreshIntervalMs: number;
  readonly maxStalenessMs: number;
  /** Revocations held in memory. */
  readonly size: number;
}

export const DEFAULT_REVOCATION_REFRESH_MS = 1_000;
export const DEFAULT_REVOCATION_MAX_STALENESS_MS = 3_000;
export const DEFAULT_REVOCATION_OVERLAP_MS = 10_000;
/** An entry outlives its token's `exp` by this much before it is dropped (clocks differ a little). */
const EXPIRY_SLACK_MS = 60_000;

const keyOf = (iss: string, jti: string) => `${iss}\n${jti}`;

export function createRevocationSet(options: RevocationSetOptions): RevocationSet {
  const { feed, clock } = options;
  const refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_REVOCATION_REFRESH_MS;
  const maxStalenessMs = options.maxStalenessMs ?? DEFAULT_REVOCATION_MAX_STALENESS_MS;
  const overlapMs = options.overlapMs ?? DEFAULT_REVOCATION_OVERLAP_MS;
  /** `iss\njti` → expiry in ms (`Infinity` when the row has none). */
  const revoked = new Map<string, number>();
  /** Highest `recorded_at` seen (database clock); `undefined` while no row was seen (read them all). */
  let watermark: number | undefined;
  /** Instance-clock time at which the last successful poll started; nothing loaded yet = never. */
  let freshAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  function prune(now: number): void {
    for (const [key, expiresAt] of revoked) {
      if (expiresAt + EXPIRY_SLACK_MS < now) revoked.delete(key);
    }
  }

  async function poll(): Promise<void> {
    const startedAt = clock.now();
    const since = watermark === undefined ? undefined : new Date(watermark - overlapMs);
    const rows = await feed.listRecordedSince(since, new Date(startedAt - EXPIRY_SLACK_MS));
    for (const row of rows) {
      revoked.set(keyOf(row.iss, row.jti), row.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
      const recorded = row.recordedAt.getTime();
      if (watermark === undefined || recorded > watermark) watermark = recorded;
    }
    prune(startedAt);
    freshAt = Math.max(freshAt, startedAt);
  }

  function refresh(): Promise<void> {
    if (!inFlight) {
      inFlight = poll().finally(() => {
        inFlight = undefined;
      });
    }
    return inFlight;
  }

  return {
    async isRevoked(iss, jti) {
      if (clock.now() - freshAt > maxStalenessMs) {
        try {
          await refresh();
        } catch (cause) {
          throw new TemporarilyUnavailable('Revocation state cannot be confirmed right now.', { cause });
        }
      }
      return revoked.has(keyOf(iss, jti));
    },
    add(iss, jti, expiresAt) {
      revoked.set(keyOf(iss, jti), expiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
    },
    refresh,
    refreshIntervalMs,
    maxStalenessMs,
    get size() {
      return revoked.size;
    },
  };
}
