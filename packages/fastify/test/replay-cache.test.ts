import { createFakeClock } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import { computeReplayKey, createMemoryReplayCache } from '../src/index.js';

const base = {
  keyThumbprint: 'tp',
  created: 1_700_000_000,
  method: 'POST',
  authority: 'ps.example',
  path: '/token',
  signature: new Uint8Array([1, 2, 3]),
};

describe('computeReplayKey (§Freshness and Replay)', () => {
  it('differs when any tuple member or the signature differs', () => {
    const key = computeReplayKey(base);
    expect(computeReplayKey({ ...base })).toBe(key);
    for (const change of [
      { keyThumbprint: 'tq' },
      { created: base.created + 1 },
      { method: 'PUT' },
      { authority: 'as.example' },
      { path: '/tokens' },
      { signature: new Uint8Array([1, 2, 4]) },
    ]) {
      expect(computeReplayKey({ ...base, ...change })).not.toBe(key);
    }
  });
});

describe('createMemoryReplayCache', () => {
  it('refuses a key until it expires', async () => {
    const clock = createFakeClock(0);
    const cache = createMemoryReplayCache({ clock });
    expect(await cache.consume('k', 60_000)).toBe(true);
    expect(await cache.consume('k', 60_000)).toBe(false);
    clock.set(60_000);
    expect(await cache.consume('k', 120_000)).toBe(true);
  });

  it('stays bounded', async () => {
    const clock = createFakeClock(0);
    const cache = createMemoryReplayCache({ clock, maxEntries: 2 });
    expect(await cache.consume('a', 10_000)).toBe(true);
    expect(await cache.consume('b', 10_000)).toBe(true);
    expect(await cache.consume('c', 10_000)).toBe(true);
    // 'a' was the oldest and was forgotten to make room.
    expect(await cache.consume('a', 10_000)).toBe(true);
    expect(await cache.consume('c', 10_000)).toBe(false);
  });
});
