import { type Clock, systemClock } from '@aauth-ref/core';

/**
 * Sliding-window limits for sign-in attempts, per username and per client address. The interface is
 * async so an app can back it with its database (shared by every instance); the in-memory one suits
 * a single instance and tests. Keys are attacker-chosen, so the memory one holds a bounded number.
 */

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Attempts left in the window (0 when refused). */
  readonly remaining: number;
  /** When refused: seconds until an attempt is allowed again (for `Retry-After`). */
  readonly retryAfterSeconds: number;
}

export interface RateLimiter {
  /** The decision for `key` without recording anything. */
  check(key: string): Promise<RateLimitDecision>;
  /** Records one attempt (a failed sign-in) for `key`. */
  record(key: string): Promise<void>;
  /** Forgets `key` (a successful sign-in for that username). */
  reset(key: string): Promise<void>;
}

export interface MemoryRateLimiterOptions {
  /** Attempts allowed in any window of `windowSeconds`. */
  readonly limit: number;
  readonly windowSeconds: number;
  readonly clock?: Clock;
  /** Most keys held; the least recently touched is dropped beyond it (default 10,000). */
  readonly maxKeys?: number;
}

export function createMemoryRateLimiter(options: MemoryRateLimiterOptions): RateLimiter {
  const clock = options.clock ?? systemClock;
  const windowMs = options.windowSeconds * 1000;
  const maxKeys = options.maxKeys ?? 10_000;
  // Map order is insertion order: re-inserting on touch makes the first entry the least recent.
  const attempts = new Map<string, number[]>();

  const live = (key: string, now: number): number[] => {
    const times = (attempts.get(key) ?? []).filter((t) => t > now - windowMs);
    if (times.length === 0) attempts.delete(key);
    return times;
  };

  const decide = (times: readonly number[], now: number): RateLimitDecision => {
    if (times.length < options.limit) {
      return { allowed: true, remaining: options.limit - times.length, retryAfterSeconds: 0 };
    }
    // The attempt that must leave the window before another one fits.
    const gate = times[times.length - options.limit]!;
    return {
      allowed: false,
      remaining: 0,
      retryAfterSeconds: Math.max(1, Math.ceil((gate + windowMs - now) / 1000)),
    };
  };

  return {
    async check(key) {
      const now = clock.now();
      return decide(live(key, now), now);
    },
    async record(key) {
      const now = clock.now();
      const times = live(key, now);
      times.push(now);
      // Only the newest `limit` attempts can ever matter.
      if (times.length > options.limit) times.splice(0, times.length - options.limit);
      attempts.delete(key);
      attempts.set(key, times);
      while (attempts.size > maxKeys) attempts.delete(attempts.keys().next().value!);
    },
    async reset(key) {
      attempts.delete(key);
    },
  };
}

export interface LoginThrottleOptions {
  readonly perUsername: RateLimiter;
  readonly perAddress: RateLimiter;
}

export interface LoginAttempt {
  readonly username: string;
  /** `request.ip` (which honours TRUST_PROXY). */
  readonly address: string;
}

/** Both limits for a sign-in form. */
export interface LoginThrottle {
  check(attempt: LoginAttempt): Promise<RateLimitDecision>;
  recordFailure(attempt: LoginAttempt): Promise<void>;
  /** Clears the username's count only: a valid password for one account must not reset an address's. */
  recordSuccess(attempt: LoginAttempt): Promise<void>;
}

function usernameKey(username: string): string {
  return username.normalize('NFC').trim().toLowerCase();
}

export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  return {
    async check(attempt) {
      const [byName, byAddress] = await Promise.all([
        options.perUsername.check(usernameKey(attempt.username)),
        options.perAddress.check(attempt.address),
      ]);
      if (byName.allowed && byAddress.allowed) {
        return {
          allowed: true,
          remaining: Math.min(byName.remaining, byAddress.remaining),
          retryAfterSeconds: 0,
        };
      }
      return {
        allowed: false,
        remaining: 0,
        retryAfterSeconds: Math.max(byName.retryAfterSeconds, byAddress.retryAfterSeconds),
      };
    },
    async recordFailure(attempt) {
      await Promise.all([
        options.perUsername.record(usernameKey(attempt.username)),
        options.perAddress.record(attempt.address),
      ]);
    },
    async recordSuccess(attempt) {
      await options.perUsername.reset(usernameKey(attempt.username));
    },
  };
}
