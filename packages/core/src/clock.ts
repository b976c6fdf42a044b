/** Time is injected everywhere so freshness windows and expiry are tested by moving a clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Whole seconds since the Unix epoch (JWT `iat`/`exp`, RFC 9421 `created`). */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
