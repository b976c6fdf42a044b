import { epochSeconds } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { createFakeClock, DEFAULT_FAKE_NOW_MS } from '../src/index.js';

describe('createFakeClock', () => {
  it('starts at the given instant and moves only when told', () => {
    const clock = createFakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(500);
    expect(clock.now()).toBe(1_500);
    clock.set(10_000);
    expect(epochSeconds(clock)).toBe(10);
  });

  it('defaults to a fixed instant', () => {
    expect(createFakeClock().now()).toBe(DEFAULT_FAKE_NOW_MS);
  });
});
