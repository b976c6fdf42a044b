import { describe, expect, it } from 'vitest';
import { mannWhitneyU, normalCdf } from './stats.js';

describe('mannWhitneyU', () => {
  it('counts the pairs where the second sample is larger, ties as one half', () => {
    // b > a in 1×(3>1) + 1×(3>2) + 0.5×(2=2) + 1×(2>1) = 3.5 of 4 pairs.
    const result = mannWhitneyU([1, 2], [2, 3]);
    expect(result.u).toBe(3.5);
    expect(result.probabilityGreater).toBe(0.875);
  });

  it('finds no difference between identical samples and a clear one between separated samples', () => {
    const same = Array.from({ length: 50 }, (_, i) => i);
    expect(mannWhitneyU(same, same).p).toBeGreaterThan(0.9);
    const shifted = same.map((v) => v + 100);
    const apart = mannWhitneyU(same, shifted);
    expect(apart.probabilityGreater).toBe(1);
    expect(apart.p).toBeLessThan(1e-6);
  });

  it('matches the textbook z for two small samples without ties', () => {
    // a = 1..5, b = 6..10: U = 25, mean 12.5, sd = sqrt(25 × 11 / 12); z with continuity correction.
    const { z } = mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
    expect(z).toBeCloseTo((25 - 12.5 - 0.5) / Math.sqrt((25 * 11) / 12), 10);
  });
});

describe('normalCdf', () => {
  it('is 0.5 at 0 and 0.975 at 1.96', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(1.96)).toBeCloseTo(0.975, 3);
    expect(normalCdf(-1.96)).toBeCloseTo(0.025, 3);
  });
});
