import type { Clock } from '@aauth-ref/core';

/** A `Clock` tests move by hand: freshness windows and expiry are tested without sleeping. */
export interface FakeClock extends Clock {
  /** Moves the clock forward (or back, with a negative value) by `ms` milliseconds. */
  advance(ms: number): void;
  /** Sets the clock to `ms` milliseconds since the Unix epoch. */
  set(ms: number): void;
}

/** A fixed, recognisable instant (2026-01-01T00:00:00Z) so fixtures do not depend on the wall clock. */
export const DEFAULT_FAKE_NOW_MS = Date.UTC(2026, 0, 1);

export function createFakeClock(startMs: number = DEFAULT_FAKE_NOW_MS): FakeClock {
  let current = startMs;
  return {
    now: () => current,
    advance(ms) {
      current += ms;
    },
    set(ms) {
      current = ms;
    },
  };
}
