import type autocannon from 'autocannon';
import { describe, expect, it } from 'vitest';
import { combineRuns, quantile } from './report.js';

describe('report', () => {
  it('quantile is nearest-rank and NaN when empty', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('combineRuns takes the median round’s throughput and pools latencies', () => {
    const run = (n: number, latency: number) => ({
      result: { duration: 1, non2xx: 0, errors: 0, timeouts: 0 } as autocannon.Result,
      latencies: Array.from({ length: n }, () => latency),
      generatorCpu: n / 1000,
    });
    const combined = combineRuns('x', [run(100, 1), run(300, 2), run(200, 3)]);
    expect(combined.rps).toBe(200);
    expect(combined.p50).toBe(2);
    expect(combined.generatorCpu).toBe(0.3);
  });

  it('combineRuns divides the server CPU of all runs by all their answers, NaN when a run lacks it', () => {
    const run = (n: number, non2xx: number, serverCpuUs?: number) => ({
      result: { duration: 1, non2xx, errors: 0, timeouts: 0 } as autocannon.Result,
      latencies: Array.from({ length: n }, () => 1),
      generatorCpu: 0,
      ...(serverCpuUs === undefined ? {} : { serverCpuUs }),
    });
    expect(combineRuns('x', [run(90, 10, 50_000), run(100, 0, 30_000)]).serverCpuUs).toBe(400);
    expect(combineRuns('x', [run(90, 10, 50_000), run(100, 0)]).serverCpuUs).toBeNaN();
  });
});
