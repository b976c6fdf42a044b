import { describe, expect, it } from 'vitest';
import { judgeTableGrowth, type RowSample } from '../src/faults/table-growth.js';

/** A sample every `every` seconds from 0 to `until`, counted by `count(t)`. */
function series(until: number, count: (t: number) => number, every = 5): RowSample[] {
  const samples: RowSample[] = [];
  for (let t = 0; t <= until; t += every) samples.push({ t, count: Math.round(count(t)) });
  return samples;
}

/** Rows written at `rate`/s, each kept `life` s, removed by a purge every `period` s (a sawtooth). */
const sawtooth = (rate: number, life: number, period: number) => (t: number) =>
  rate * Math.min(t, life + (t % period));

describe('judgeTableGrowth (soak: tables bounded by expiry)', () => {
  const criteria = { settleSeconds: 130, minHalfSeconds: 60 };

  it('calls a table whose rows expire bounded, whatever the phase of its purge cycle', () => {
    for (const phase of [0, 15, 30, 45]) {
      const verdict = judgeTableGrowth(
        series(300, (t) => sawtooth(3, 60, 60)(t + phase)),
        criteria,
      );
      expect(verdict.bounded).toBe(true);
    }
  });

  it('calls a table that keeps every row unbounded, with its growth per minute', () => {
    const verdict = judgeTableGrowth(
      series(300, (t) => 64 + 3.3 * t),
      criteria,
    );
    expect(verdict).toMatchObject({ bounded: false, steady_from_s: 130, slope_per_minute: 198 });
    expect(verdict.second_half_max).toBeGreaterThan(verdict.first_half_max! * 1.1);
  });

  it('allows `slack` rows on top, for one burst landing in the second half only', () => {
    const burst = (t: number) => (t >= 280 ? 16 : 8);
    expect(judgeTableGrowth(series(300, burst), criteria).bounded).toBe(false);
    expect(judgeTableGrowth(series(300, burst), { ...criteria, slack: 8 }).bounded).toBe(true);
  });

  it('calls an empty table bounded', () => {
    expect(
      judgeTableGrowth(
        series(300, () => 0),
        criteria,
      ),
    ).toMatchObject({
      bounded: true,
      first_half_max: 0,
      second_half_max: 0,
      slope_per_minute: 0,
    });
  });

  it('gives no verdict when the steady part is shorter than two cycles', () => {
    const verdict = judgeTableGrowth(
      series(240, (t) => 3 * t),
      criteria,
    );
    expect(verdict).toEqual({
      bounded: null,
      steady_from_s: 130,
      first_half_max: null,
      second_half_max: null,
      slope_per_minute: null,
    });
  });

  it('gives no verdict when rows outlive the run (tokens of an hour)', () => {
    const verdict = judgeTableGrowth(
      series(600, (t) => 3 * t),
      {
        settleSeconds: Number.POSITIVE_INFINITY,
      },
    );
    expect(verdict.bounded).toBeNull();
  });
});
