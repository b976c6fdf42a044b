/**
 * Soak (issue #10, item 4): `pnpm --filter @aauth-ref/conformance fault:soak` — not in the default
 * suite. The three servers as processes on a PostgreSQL cluster of the script's own (never the shared
 * server on 5432); agents bound to alice drive the three-party mix (`src/faults/load.ts`: person
 * token, auth token with consent already given, resource read, a state-changing write).
 *
 * 1. Peak: every agent in a closed loop for `PEAK_SECONDS` (default 30): completed mix steps per second.
 * 2. Soak: `SOAK_SECONDS` (default 600) open loop at `SOAK_FRACTION` (default 0.7) of that peak.
 * Per minute: requests, errors, p50/p99 latency, RSS of each server, load average. Row counts of the
 * pending, replay-cache and token tables at the start and the end of the soak.
 */
import { type Database, openDatabase } from '@aauth-ref/db';
import {
  countBy,
  isSuccess,
  mixCycle,
  type Operation,
  percentile,
  prepareLoadAgents,
  Recorder,
  runOperation,
  type Sample,
} from '../src/faults/load.js';
import { runFaultScenario, say, sleep } from '../src/faults/scenario.js';
import { loadavg } from '../src/faults/stack.js';

const SOAK_MS = Number(process.env.SOAK_SECONDS ?? '600') * 1000;
const PEAK_MS = Number(process.env.PEAK_SECONDS ?? '30') * 1000;
const FRACTION = Number(process.env.SOAK_FRACTION ?? '0.7');
const AGENTS = Number(process.env.SOAK_AGENTS ?? '8');
const MAX_IN_FLIGHT = 64;
const TIMEOUT_MS = 15_000;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const MiB = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / 2 ** 20));

/** The tables that grow with traffic and must stay bounded by expiry (per server). */
const TABLES = {
  'person-server': [
    'pending_request',
    'replay_entry',
    'person_token_record',
    'issued_auth_token',
    'seen_agent_token',
  ],
  'resource-server': ['pending_request', 'replay_entry', 'person_token_record', 'auth_token_record', 'note'],
  'auth-server': ['pending_request', 'replay_entry', 'issued_auth_token'],
} as const;

async function countRows(databases: Record<keyof typeof TABLES, Database>) {
  const counts: Record<string, Record<string, number>> = {};
  for (const [app, tables] of Object.entries(TABLES) as [keyof typeof TABLES, readonly string[]][]) {
    const sql = `SELECT ${tables.map((t) => `(SELECT count(*) FROM "${t}")::int AS "${t}"`).join(', ')}`;
    const [row] = await databases[app].exec<Record<string, number>>(sql);
    counts[app] = { ...row };
  }
  return counts;
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
    error_kinds: countBy(errors, (s) => `${s.op} ${s.status} ${s.error ?? s.failure ?? ''}`),
  };
}

await runFaultScenario('soak', async ({ databases: urls, stack, ap }) => {
  const targets = { ps: stack.ps.issuer, rs: stack.rs.issuer };
  const agents = await prepareLoadAgents(ap, targets, AGENTS);
  say(`${AGENTS} agents ready; measuring peak for ${PEAK_MS / 1000} s`);

  // 1. Peak: closed loop, one worker per agent.
  const peak = new Recorder();
  const peakStart = Date.now();
  let steps = 0;
  await Promise.all(
    agents.map(async (load) => {
      const ops = mixCycle();
      while (Date.now() - peakStart < PEAK_MS) {
        await runOperation(ops.next().value!, load, targets, peak, TIMEOUT_MS);
        steps++;
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
  const rowsAtStart = await countRows(databases);
  const recorder = new Recorder();
  const start = Date.now();
  const minutes: Record<string, unknown>[] = [];
  let inFlight = 0;
  let skipped = 0;
  let launched = 0;
  const running = new Set<Promise<void>>();
  // Each agent walks the mix on its own and has at most one step in flight (an agent is one client).
  const cycles = agents.map(() => mixCycle());
  const busy = new Set<number>();
  const interval = 1000 / rate;
  let due = start;
  let nextMinute = start + 60_000;
  const rss = async () =>
    Object.fromEntries(
      await Promise.all(stack!.all.map(async (server) => [server.app, MiB(await server.rss())] as const)),
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
      };
      minutes.push(row);
      say(JSON.stringify(row));
      nextMinute += 60_000;
    }
    const index = agents.findIndex((_, i) => !busy.has((launched + i) % agents.length));
    if (inFlight >= MAX_IN_FLIGHT || index < 0) {
      skipped++;
      continue;
    }
    const slot = (launched + index) % agents.length;
    const op: Operation = cycles[slot]!.next().value!;
    const load = agents[slot]!;
    launched++;
    inFlight++;
    busy.add(slot);
    const task = runOperation(op, load, targets, recorder, TIMEOUT_MS).finally(() => {
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
    });
  }
  const rowsAtEnd = await countRows(databases);
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
  const total = summarize(recorder.samples);
  const result = {
    soak_seconds: round(seconds),
    agents: AGENTS,
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
    total: { ...total, error_rate: total.requests === 0 ? null : total.errors / total.requests },
    by_operation: Object.fromEntries(
      (['person-token', 'auth-token', 'resource-read', 'resource-write'] as const).map((op) => [
        op,
        summarize(recorder.samples.filter((s) => s.op === op)),
      ]),
    ),
    minutes,
    rss_at_start_mib: rssAtStart,
    rss_after_warmup: rssDrift,
    rows_at_start: rowsAtStart,
    rows_at_end: rowsAtEnd,
    load_average_end: loadavg().map((x) => round(x, 2)),
  };
  return { result, printed: { ...result, minutes: undefined }, failed: total.errors > 0 };
});
