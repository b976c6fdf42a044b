import type autocannon from 'autocannon';

/** One load run: throughput and latency (ms) of its 2xx answers. */
export interface ScenarioResult {
  readonly label: string;
  /** 2xx answers per second over the run. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** The generator's CPU use during the run, in cores (1.0 = its whole core: it was the bottleneck). */
  readonly generatorCpu: number;
}

export interface HotPathReport {
  readonly rows: readonly ScenarioResult[];
  readonly ratios: { readonly db: number; readonly dc: number; readonly da: number };
  readonly p99At80: number;
  readonly machine: Readonly<Record<string, string | number | boolean>>;
}

/** The `q` quantile (0..1) of `values`, nearest rank; `NaN` when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** One timed autocannon run: its result and the float latencies (ms) of its 2xx answers. */
export interface ScenarioRun {
  readonly result: autocannon.Result;
  readonly latencies: readonly number[];
  readonly generatorCpu: number;
}

function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Throughput: the median run's; latency: quantiles over every run's answers; generator CPU: the highest. */
export function combineRuns(label: string, runs: readonly ScenarioRun[]): ScenarioResult {
  const latencies = runs.flatMap((run) => run.latencies);
  return {
    label,
    rps: median(
      runs.map((run) => (run.result.duration > 0 ? run.latencies.length / run.result.duration : 0)),
    ),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    non2xx: runs.reduce((sum, run) => sum + run.result.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.result.errors + run.result.timeouts, 0),
    generatorCpu: Math.max(...runs.map((run) => run.generatorCpu)),
  };
}

function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

export function formatTable(report: HotPathReport): string {
  const lines = [
    `${'scenario'.padEnd(44)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)} ${'gen CPU'.padStart(8)}`,
  ];
  for (const row of report.rows) {
    lines.push(
      `${row.label.padEnd(44)} ${row.rps.toFixed(0).padStart(8)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)} ${String(row.non2xx + row.errors).padStart(8)} ${row.generatorCpu.toFixed(2).padStart(8)}`,
    );
  }
  const { db, dc, da } = report.ratios;
  lines.push('');
  lines.push(`d/b = ${db.toFixed(3)}  (goal ≥ 0.8: ${verdict(db >= 0.8)})`);
  lines.push(`d/c = ${dc.toFixed(3)}  (goal ≥ 1.5: ${verdict(dc >= 1.5)})`);
  lines.push(`d/a = ${da.toFixed(3)}  (share of the HTTP ceiling)`);
  lines.push(
    `p99 of (d) at 80 % of peak = ${report.p99At80.toFixed(2)} ms  (goal < 10 ms: ${verdict(report.p99At80 < 10)})`,
  );
  lines.push(
    Object.entries(report.machine)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(', '),
  );
  return lines.join('\n');
}

export function formatMarkdown(report: HotPathReport): string {
  const lines = ['| Scenario | req/s | p50 ms | p99 ms | generator CPU |', '|---|---:|---:|---:|---:|'];
  for (const row of report.rows) {
    lines.push(
      `| ${row.label} | ${row.rps.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.generatorCpu.toFixed(2)} |`,
    );
  }
  const { db, dc, da } = report.ratios;
  lines.push('');
  lines.push(
    `d/b = **${db.toFixed(3)}** (goal ≥ 0.8), d/c = **${dc.toFixed(3)}** (goal ≥ 1.5), d/a = ${da.toFixed(3)}; `,
  );
  lines.push(`p99 of (d) at 80 % of its peak = **${report.p99At80.toFixed(2)} ms** (goal < 10 ms).`);
  return lines.join('\n');
}
