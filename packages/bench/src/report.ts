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
  /**
   * The server process's CPU time per answered request, µs (`NaN` when not measured). Unlike req/s it
   * hardly moves when other work takes the server's core away, so its ratios hold on a shared machine.
   */
  readonly serverCpuUs: number;
}

export interface HotPathReport {
  readonly rows: readonly ScenarioResult[];
  /** The same ratios from server CPU per request (b/d is d/b's counterpart: cost of b over cost of d). */
  readonly cpuRatios: { readonly db: number; readonly dc: number; readonly dPrimeAPrime: number };
  readonly ratios: {
    /** (d) / (b): ours against one raw Ed25519 verification (goal ≥ 0.8). */
    readonly db: number;
    /** (d) / (c): ours against the peer pipeline (goal ≥ 1.5). */
    readonly dc: number;
    /** (d) / (a): share of the HTTP ceiling. */
    readonly da: number;
    /** (d′) / (a′): the notes route against the same notes read without authentication. */
    readonly dPrimeAPrime: number;
  };
  /** Server CPU time authentication adds per request, µs: (d) − (a) and (d′) − (a′). */
  readonly authCostUs: { readonly d: number; readonly dPrime: number };
  /** p99 (ms) at 80 % of the route's own peak (goal < 10 ms). */
  readonly p99At80: { readonly d: number; readonly dPrime: number };
  /** Database statements per warm request, per scenario label. */
  readonly statements: Readonly<Record<string, number>>;
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
  /** The server's CPU time over the run, µs, when measured. */
  readonly serverCpuUs?: number;
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
    serverCpuUs: serverCpuPerRequest(runs),
  };
}

/** Server CPU over all runs divided by all their answers (2xx and not); `NaN` unless every run measured it. */
function serverCpuPerRequest(runs: readonly ScenarioRun[]): number {
  let cpu = 0;
  let answers = 0;
  for (const run of runs) {
    if (run.serverCpuUs === undefined) return Number.NaN;
    cpu += run.serverCpuUs;
    answers += run.latencies.length + run.result.non2xx;
  }
  return answers > 0 ? cpu / answers : Number.NaN;
}

function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

export function formatTable(report: HotPathReport): string {
  const lines = [
    `${'scenario'.padEnd(44)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)} ${'gen CPU'.padStart(8)} ${'srv µs/req'.padStart(10)}`,
  ];
  for (const row of report.rows) {
    lines.push(
      `${row.label.padEnd(44)} ${row.rps.toFixed(0).padStart(8)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)} ${String(row.non2xx + row.errors).padStart(8)} ${row.generatorCpu.toFixed(2).padStart(8)} ${row.serverCpuUs.toFixed(0).padStart(10)}`,
    );
  }
  lines.push('');
  lines.push(...summaryLines(report, (text) => text));
  lines.push(
    Object.entries(report.machine)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(', '),
  );
  return lines.join('\n');
}

export function formatMarkdown(report: HotPathReport): string {
  const lines = [
    '| Scenario | req/s | p50 ms | p99 ms | generator CPU | server CPU µs/req |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of report.rows) {
    lines.push(
      `| ${row.label} | ${row.rps.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.generatorCpu.toFixed(2)} | ${row.serverCpuUs.toFixed(0)} |`,
    );
  }
  lines.push('');
  lines.push(...summaryLines(report, (text) => `**${text}**`).map((line) => `${line}  `));
  return lines.join('\n');
}

/** The ratios, goals, added cost and statement counts under the table; `strong` marks the goal figures. */
function summaryLines(report: HotPathReport, strong: (text: string) => string): string[] {
  const { db, dc, da, dPrimeAPrime } = report.ratios;
  const statements = Object.entries(report.statements)
    .map(([label, count]) => `${label.split(' ')[0]} ${count.toFixed(2)}`)
    .join(', ');
  return [
    `d/b = ${strong(db.toFixed(3))} (goal ≥ 0.8: ${verdict(db >= 0.8)}), d/c = ${strong(dc.toFixed(3))} (goal ≥ 1.5: ${verdict(dc >= 1.5)}), d/a = ${da.toFixed(3)}`,
    `p99 at 80 % of peak: (d) ${strong(`${report.p99At80.d.toFixed(2)} ms`)} (goal < 10 ms: ${verdict(report.p99At80.d < 10)}), (d′) ${report.p99At80.dPrime.toFixed(2)} ms`,
    `d′/a′ = ${dPrimeAPrime.toFixed(3)} (the notes route against the same read unauthenticated)`,
    `from server CPU per request (steadier on a shared machine): d/b = ${report.cpuRatios.db.toFixed(3)}, d/c = ${report.cpuRatios.dc.toFixed(3)}, d′/a′ = ${report.cpuRatios.dPrimeAPrime.toFixed(3)}`,
    `server CPU authentication adds per request: (d) − (a) ${report.authCostUs.d.toFixed(0)} µs, (d′) − (a′) ${report.authCostUs.dPrime.toFixed(0)} µs`,
    `database statements per warm request: ${statements}`,
  ];
}
