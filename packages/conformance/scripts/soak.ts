/**
 * Soak (issue #10, item 4): `pnpm --filter @aauth-ref/conformance fault:soak` — not in the default
 * suite. The three servers as processes on a PostgreSQL cluster of the script's own (never the shared
 * server on 5432); agents bound to alice drive the three-party mix (`src/faults/load.ts`: person
 * token, auth token with consent already given, resource read, a state-changing write).
 *
 * 1. Peak: every agent in a closed loop for `PEAK_SECONDS` (default 30): completed mix steps per second.
 * 2. Soak: `SOAK_SECONDS` (default 600) open loop at `SOAK_FRACTION` (default 0.7) of that peak.
 * Per minute: requests, errors, p50/p99 latency, RSS of each server, load average, row counts of the
 * tables that grow with traffic (also sampled every `SOAK_ROWS_EVERY_SECONDS`, default 15).
 *
 * Short lifetimes (on unless `SOAK_TOKEN_LIFETIME_SECONDS=0`), so expiry and the retention sweeper
 * are seen at work within minutes: agent tokens live `SOAK_TOKEN_LIFETIME_SECONDS` (default 120; the
 * person and auth tokens are capped by them) and agents renew before `exp`, alice approving the R3
 * write again; the servers sweep every `SOAK_RETENTION_INTERVAL_SECONDS` (default 10) and keep token
 * records, audit records and pending requests `SOAK_RETENTION_SECONDS` (default 60, the servers' minimum for
 * pending requests) past their end. At the end each table gets a bounded yes/no
 * (`src/faults/table-growth.ts`).
 */
import { type Database, openDatabase } from '@aauth-ref/db';
import {
  countBy,
  isSuccess,
  mixCycle,
  needsRenewal,
  type Operation,
  percentile,
  prepareLoadAgents,
  Recorder,
  renewalMarginMs,
  renewLoadAgent,
  runOperation,
  type Sample,
} from '../src/faults/load.js';
import type { ServerApp } from '../src/faults/processes.js';
import { runFaultScenario, say, sleep } from '../src/faults/scenario.js';
import { loadavg, type ServerEnv } from '../src/faults/stack.js';
import { type GrowthVerdict, judgeTableGrowth, type RowSample } from '../src/faults/table-growth.js';

const SOAK_MS = Number(process.env.SOAK_SECONDS ?? '600') * 1000;
const PEAK_MS = Number(process.env.PEAK_SECONDS ?? '30') * 1000;
const FRACTION = Number(process.env.SOAK_FRACTION ?? '0.7');
const AGENTS = Number(process.env.SOAK_AGENTS ?? '8');
/** 0: agent tokens of an hour and the servers' own retention settings (nothing expires in a soak). */
const LIFETIME_SECONDS = Number(process.env.SOAK_TOKEN_LIFETIME_SECONDS ?? '120');
const RETENTION_INTERVAL_SECONDS = Number(process.env.SOAK_RETENTION_INTERVAL_SECONDS ?? '10');
const RETENTION_SECONDS = Number(process.env.SOAK_RETENTION_SECONDS ?? '60');
const ROWS_EVERY_MS = Number(process.env.SOAK_ROWS_EVERY_SECONDS ?? '5') * 1000;
const SHORT = LIFETIME_SECONDS > 0;
const MAX_IN_FLIGHT = 64;
const TIMEOUT_MS = 15_000;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const MiB = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / 2 ** 20));

/**
 * The servers' settings in short-lifetime mode (names and minimums from each app's `config.ts`):
 * every lifetime and retention that bounds a growing table brought down to `RETENTION_SECONDS`.
 * Resource tokens must stay within the lifetime the PS and AS accept.
 */
function shortLifetimeEnv(): ServerEnv {
  const seconds = String(RETENTION_SECONDS);
  const common = {
    RETENTION_INTERVAL_SECONDS: String(RETENTION_INTERVAL_SECONDS),
    TOKEN_RECORD_RETENTION_SECONDS: seconds,
    PENDING_RETENTION_SECONDS: seconds,
    PENDING_TTL_SECONDS: seconds,
  };
  // The PS and AS keep audit records (R3 audit entries, the PS's security log) this long after writing.
  const issuer = {
    ...common,
    RESOURCE_TOKEN_MAX_LIFETIME_SECONDS: seconds,
    AUDIT_RETENTION_SECONDS: seconds,
  };
  return {
    'person-server': issuer,
    'auth-server': issuer,
    'resource-server': { ...common, RESOURCE_TOKEN_TTL_SECONDS: seconds },
  };
}

/**
 * After this long no row written before the soak can remain: a token record lives its token's
 * lifetime plus retention, a pending request its TTL plus retention, and the sweep comes within
 * 1.2 intervals (±20 % jitter).
 */
const SETTLE_SECONDS = SHORT
  ? Math.max(LIFETIME_SECONDS, RETENTION_SECONDS) + RETENTION_SECONDS + 1.2 * RETENTION_INTERVAL_SECONDS
  : Number.POSITIVE_INFINITY;
/**
 * The longest cycle in the counts: the replay cache's purge (at most once a minute,
 * `packages/db/src/replay-cache.ts`), a round of renewals, a sweep.
 */
const CYCLE_SECONDS = Math.max(
  60,
  LIFETIME_SECONDS - renewalMarginMs(LIFETIME_SECONDS) / 1000,
  1.2 * RETENTION_INTERVAL_SECONDS,
);

/**
 * The tables counted, per server: `expiring` ones must be bounded by expiry (the soak fails if one
 * is not); `data` is the application's own and `kept` is kept on purpose (audit, bindings,
 * configuration): counted to show what they do under load, `why` says why they may grow.
 * A table a server does not have is skipped.
 */
type TableKind = 'expiring' | 'data' | 'kept';
interface TableSpec {
  readonly kind: TableKind;
  readonly why?: string;
}
const EXPIRING: TableSpec = { kind: 'expiring' };
const CONFIGURATION: TableSpec = { kind: 'kept', why: 'one row per agent or person, not per request' };
const TABLES: Readonly<Record<ServerApp, Readonly<Record<string, TableSpec>>>> = {
  'person-server': {
    pending_request: EXPIRING,
    replay_entry: EXPIRING,
    person_token_record: EXPIRING,
    issued_auth_token: EXPIRING,
    r3_audit_record: EXPIRING,
    seen_agent_token: EXPIRING,
    issued_agent_token: EXPIRING,
    web_session: EXPIRING,
    rate_limit_attempt: EXPIRING,
    agent_binding: CONFIGURATION,
    enrollment: CONFIGURATION,
    security_event: EXPIRING,
  },
  'resource-server': {
    pending_request: EXPIRING,
    replay_entry: EXPIRING,
    person_token_record: EXPIRING,
    auth_token_record: EXPIRING,
    session_token: EXPIRING,
    chained_request: EXPIRING,
    r3_document: EXPIRING,
    r3_per_call_execution: EXPIRING,
    note: { kind: 'data', why: 'application data: one note per write' },
  },
  'auth-server': {
    pending_request: EXPIRING,
    replay_entry: EXPIRING,
    issued_auth_token: EXPIRING,
    r3_audit_record: EXPIRING,
  },
};

type RowCounts = Record<string, Record<string, number>>;

/** One query per server counting its tables in `TABLES` that exist there. */
async function rowCounter(databases: Record<ServerApp, Database>): Promise<() => Promise<RowCounts>> {
  const queries: [ServerApp, string][] = [];
  for (const [app, tables] of Object.entries(TABLES) as [ServerApp, Record<string, TableSpec>][]) {
    const names = Object.keys(tables);
    const [present] = await databases[app].exec<Record<string, boolean>>(
      `SELECT ${names.map((t, i) => `to_regclass($${i + 1}) IS NOT NULL AS "${t}"`).join(', ')}`,
      names,
    );
    const existing = names.filter((t) => present?.[t]);
    if (existing.length === 0) continue;
    queries.push([
      app,
      `SELECT ${existing.map((t) => `(SELECT count(*) FROM "${t}")::int AS "${t}"`).join(', ')}`,
    ]);
  }
  return async () => {
    const counts: RowCounts = {};
    for (const [app, sql] of queries) {
      const [row] = await databases[app].exec<Record<string, number>>(sql);
      counts[app] = { ...row };
    }
    return counts;
  };
}

interface TableReport extends GrowthVerdict, TableSpec {
  readonly start: number | undefined;
  readonly end: number | undefined;
  readonly max: number;
}

/** Per table: its series over the soak and whether it stopped growing. */
function judgeTables(
  series: readonly { t: number; rows: RowCounts }[],
): Record<string, Record<string, TableReport>> {
  const report: Record<string, Record<string, TableReport>> = {};
  for (const [app, tables] of Object.entries(TABLES)) {
    for (const [table, spec] of Object.entries(tables)) {
      const samples: RowSample[] = series.flatMap(({ t, rows }) => {
        const count = rows[app]?.[table];
        return count === undefined ? [] : [{ t, count }];
      });
      if (samples.length === 0) continue;
      // One renewal round (every agent renewing at once) may land in either half.
      const verdict = judgeTableGrowth(samples, {
        settleSeconds: SETTLE_SECONDS,
        slack: AGENTS,
        minHalfSeconds: CYCLE_SECONDS,
      });
      report[app] ??= {};
      report[app][table] = {
        ...spec,
        start: samples[0]?.count,
        end: samples.at(-1)?.count,
        max: Math.max(...samples.map((s) => s.count)),
        ...verdict,
      };
    }
  }
  return report;
}

function summarize(samples: readonly Sample[]) {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const errors = samples.filter((s) => !isSuccess(s));
  return {
    requests: samples.length,
    errors: errors.length,
    p50_ms: round(percentile(ms, 50)),
    p99_ms: round(percentile(ms, 99)),
    max_ms: round(ms.at(-1) ?? Number.NaN),
    error_kinds: countBy(
      errors,
      (s) => `${s.op} ${s.status} ${s.error ?? s.signatureError ?? s.failure ?? ''}`,
    ),
    // The first few failures in full: the kind alone does not say which check refused.
    ...(errors.length === 0
      ? {}
      : {
          error_samples: errors.slice(0, 10).map((s) => ({
            at: new Date(s.at).toISOString(),
            op: s.op,
            server: s.server,
            status: s.status,
            error: s.error,
            detail: s.detail,
            signature_error: s.signatureError,
            failure: s.failure,
          })),
        }),
  };
}

const yesNo = (bounded: boolean | null) => (bounded === null ? 'too short to tell' : bounded ? 'yes' : 'NO');

await runFaultScenario(
  'soak',
  async ({ databases: urls, stack, ap }) => {
    const targets = { ps: stack.ps.issuer, rs: stack.rs.issuer };
    const lifetimeSeconds = SHORT ? LIFETIME_SECONDS : 3600;
    const agents = await prepareLoadAgents(ap, targets, AGENTS, { lifetimeSeconds });
    say(
      `${AGENTS} agents ready (agent tokens of ${lifetimeSeconds} s${SHORT ? `, retention ${RETENTION_SECONDS} s, sweep every ${RETENTION_INTERVAL_SECONDS} s` : ''}); measuring peak for ${PEAK_MS / 1000} s`,
    );
    let renewals = 0;
    /** The agent's next step: its renewal when due, else the next step of its mix. */
    const step = (slot: number, cycle: Generator<Operation>, recorder: Recorder) => {
      const load = agents[slot]!;
      if (needsRenewal(load)) {
        renewals++;
        return { renewal: true, done: renewLoadAgent(ap, load, targets, recorder, TIMEOUT_MS) };
      }
      return { renewal: false, done: runOperation(cycle.next().value!, load, targets, recorder, TIMEOUT_MS) };
    };

    // 1. Peak: closed loop, one worker per agent.
    const peak = new Recorder();
    const peakStart = Date.now();
    let steps = 0;
    await Promise.all(
      agents.map(async (_, slot) => {
        const ops = mixCycle();
        while (Date.now() - peakStart < PEAK_MS) {
          const next = step(slot, ops, peak);
          await next.done;
          if (!next.renewal) steps++;
        }
      }),
    );
    const peakSeconds = (Date.now() - peakStart) / 1000;
    const peakSteps = steps / peakSeconds;
    const peakRequests = peak.samples.length / peakSeconds;
    const rate = peakSteps * FRACTION;
    say(
      `peak ${round(peakSteps)} steps/s (${round(peakRequests)} requests/s, p99 ${summarize(peak.samples).p99_ms} ms); soak at ${round(rate)} steps/s for ${SOAK_MS / 1000} s`,
    );

    // 2. Soak: open loop at `rate`.
    const databases = {
      'person-server': await openDatabase({ url: urls['person-server'], poolSize: 1 }),
      'auth-server': await openDatabase({ url: urls['auth-server'], poolSize: 1 }),
      'resource-server': await openDatabase({ url: urls['resource-server'], poolSize: 1 }),
    };
    const countRows = await rowCounter(databases);
    const recorder = new Recorder();
    const start = Date.now();
    const rowSeries: { t: number; rows: RowCounts }[] = [];
    const sampleRows = async () => {
      const t = round((Date.now() - start) / 1000);
      const rows = await countRows();
      rowSeries.push({ t, rows });
      return rows;
    };
    const rowsAtStart = await sampleRows();
    const minutes: Record<string, unknown>[] = [];
    let inFlight = 0;
    let skipped = 0;
    let launched = 0;
    renewals = 0;
    const running = new Set<Promise<void>>();
    // Each agent walks the mix on its own and has at most one step in flight (an agent is one client).
    const cycles = agents.map(() => mixCycle());
    const busy = new Set<number>();
    const interval = 1000 / rate;
    let due = start;
    let nextMinute = start + 60_000;
    let nextRows = start + ROWS_EVERY_MS;
    const rss = async () =>
      Object.fromEntries(
        await Promise.all(stack.all.map(async (server) => [server.app, MiB(await server.rss())] as const)),
      );
    const rssAtStart = await rss();
    while (Date.now() - start < SOAK_MS) {
      due += interval;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() >= nextMinute) {
        const from = nextMinute - 60_000;
        const window = recorder.samples.filter((s) => s.at >= from && s.at < nextMinute);
        const row = {
          minute: minutes.length + 1,
          ...summarize(window),
          rss_mib: await rss(),
          load_average: loadavg().map((x) => round(x, 2)),
          in_flight: inFlight,
          rows: await sampleRows(),
        };
        minutes.push(row);
        say(JSON.stringify(row));
        nextMinute += 60_000;
        nextRows = Date.now() + ROWS_EVERY_MS;
      } else if (Date.now() >= nextRows) {
        await sampleRows();
        nextRows += ROWS_EVERY_MS;
      }
      const index = agents.findIndex((_, i) => !busy.has((launched + i) % agents.length));
      if (inFlight >= MAX_IN_FLIGHT || index < 0) {
        skipped++;
        continue;
      }
      const slot = (launched + index) % agents.length;
      const next = step(slot, cycles[slot]!, recorder);
      if (!next.renewal) launched++;
      inFlight++;
      busy.add(slot);
      const task = next.done.finally(() => {
        inFlight--;
        busy.delete(slot);
        running.delete(task);
      });
      running.add(task);
    }
    await Promise.all(running);
    const seconds = (Date.now() - start) / 1000;
    // The last partial minute, if any.
    const tail = recorder.samples.filter((s) => s.at >= nextMinute - 60_000);
    if (tail.length > 0) {
      minutes.push({
        minute: minutes.length + 1,
        partial: true,
        ...summarize(tail),
        rss_mib: await rss(),
        load_average: loadavg().map((x) => round(x, 2)),
        rows: await sampleRows(),
      });
    }
    const rowsAtEnd = rowSeries.at(-1)!.rows;
    await Promise.all(Object.values(databases).map((db) => db.close()));

    // RSS after warm-up (minute 1 excluded): spread relative to minute 2.
    const rssSeries = (app: string) =>
      minutes
        .slice(1)
        .map((m) => (m.rss_mib as Record<string, number | null>)[app])
        .filter((v): v is number => typeof v === 'number');
    const rssDrift = Object.fromEntries(
      stack.all.map((server) => {
        const series = rssSeries(server.app);
        const base = series[0];
        if (base === undefined) return [server.app, null];
        return [
          server.app,
          {
            after_warmup_mib: base,
            min_pct: round(((Math.min(...series) - base) / base) * 100),
            max_pct: round(((Math.max(...series) - base) / base) * 100),
            end_mib: series.at(-1),
          },
        ];
      }),
    );
    const tables = judgeTables(rowSeries);
    const unbounded: string[] = [];
    const growingOnPurpose: Record<string, string | undefined> = {};
    for (const [app, byTable] of Object.entries(tables)) {
      for (const [table, report] of Object.entries(byTable)) {
        if (report.bounded === false) {
          if (report.kind === 'expiring') unbounded.push(`${app} ${table}`);
          else growingOnPurpose[`${app} ${table}`] = report.why;
        }
        const halves =
          report.bounded === null
            ? ''
            : ` (max ${report.first_half_max} → ${report.second_half_max} after ${round(report.steady_from_s, 0)} s, ${report.slope_per_minute} rows/min)`;
        say(
          `${app} ${table} [${report.kind}]: ${report.start} → ${report.end}, max ${report.max}; bounded: ${yesNo(report.bounded)}${halves}${report.why ? `; ${report.why}` : ''}`,
        );
      }
    }
    const total = summarize(recorder.samples);
    const result = {
      soak_seconds: round(seconds),
      agents: AGENTS,
      lifetimes: SHORT
        ? {
            agent_token_seconds: LIFETIME_SECONDS,
            retention_interval_seconds: RETENTION_INTERVAL_SECONDS,
            retention_seconds: RETENTION_SECONDS,
            settle_seconds: round(SETTLE_SECONDS),
            cycle_seconds: round(CYCLE_SECONDS),
          }
        : { agent_token_seconds: 3600, server_defaults: true },
      peak: {
        seconds: round(peakSeconds),
        steps_per_second: round(peakSteps),
        requests_per_second: round(peakRequests),
        ...summarize(peak.samples),
      },
      target_steps_per_second: round(rate),
      achieved_steps_per_second: round(launched / seconds),
      achieved_requests_per_second: round(recorder.samples.length / seconds),
      /** Steps not started because every agent had one in flight (the open loop fell behind). */
      skipped_all_agents_busy: skipped,
      /** Agents renewing their agent token (and person, read and write tokens) during the soak. */
      renewals,
      total: { ...total, error_rate: total.requests === 0 ? null : total.errors / total.requests },
      by_operation: Object.fromEntries(
        (['person-token', 'auth-token', 'resource-read', 'resource-write', 'agent-renewal'] as const).map(
          (op) => [op, summarize(recorder.samples.filter((s) => s.op === op))],
        ),
      ),
      minutes,
      rss_at_start_mib: rssAtStart,
      rss_after_warmup: rssDrift,
      rows_at_start: rowsAtStart,
      rows_at_end: rowsAtEnd,
      /** Per table: kind, start/end/max, and whether its count stopped growing after `steady_from_s`. */
      tables,
      /** `expiring` tables still growing after `settle_seconds`: the soak fails. */
      unbounded_tables: unbounded,
      /** `data` and `kept` tables that grew, and why they may. */
      growing_on_purpose: growingOnPurpose,
      rows_series: rowSeries,
      load_average_end: loadavg().map((x) => round(x, 2)),
    };
    return {
      result,
      printed: { ...result, minutes: undefined, rows_series: undefined, tables: undefined },
      failed: total.errors > 0 || unbounded.length > 0,
    };
  },
  { serverEnv: SHORT ? shortLifetimeEnv() : {} },
);
