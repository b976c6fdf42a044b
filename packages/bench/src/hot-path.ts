/**
 * `pnpm bench` (bench): the resource hot path under HTTP load, side by side in one run.
 *
 * The resource server runs in a child process pinned to core 0 (`taskset`, when present); this
 * process pins itself to core 1 and drives it with autocannon over loopback. Every request is signed
 * by this process as it is built (autocannon's `setupRequest` hook), so signing never lands in the
 * server's budget. Scenarios, all `GET` with the same signed headers:
 *
 * - (a)  `/bench/plain`   `/api/whoami`'s reply with no authentication — the HTTP ceiling of (d);
 * - (b)  `/bench/ed25519` one raw `node:crypto` Ed25519 verification — the cryptographic limit;
 * - (c)  `/bench/peer`    `@hellocoop/httpsig` + `jose` — a peer pipeline;
 * - (d)  `/api/whoami`    ours: a demo endpoint that needs the same auth token as the notes route
 *                         (scope `notes.read`) and does no database work;
 * - (a′) `/bench/notes`   the notes read of `/api/notes` with no authentication — its ceiling;
 * - (d′) `/api/notes`     ours: the notes route, authentication plus that read.
 *
 * Then one fixed-rate run of (d) and of (d′) at 80 % of its own peak, to read p99 off a server that is
 * not saturated, and one more saturating run of each under the inspector's CPU profiler (summary:
 * self time by package and function). Before timing, the server's database statements are counted
 * over a few warm requests of each route.
 * The six scenarios run in `BENCH_ROUNDS` interleaved rounds (default 3); each figure is the median
 * round's throughput and the latency quantiles of all rounds together.
 * Environment: `BENCH_DURATION_S` (default 15 per scenario, split over the rounds), `BENCH_CONNECTIONS` (default 10),
 * `BENCH_SOURCE=1` (the server on the TypeScript sources through tsx instead of the built packages),
 * `BENCH_DATABASE_URL` or `DATABASE_URL` (PostgreSQL; PGlite otherwise), `BENCH_CPU_PROF=<dir>` for a server CPU profile, `BENCH_SIGNING=pool` to
 * precompute one signature per second instead of signing inline.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { DWK, type KeyPair, signRequest, systemClock, toPublicJwks } from '@aauth-ref/core';
import { createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import autocannon from 'autocannon';
import { pinLoadGenerator, startChild, stopChild } from './child.js';
import { ask, profileChild } from './ipc.js';
import { formatProfile, type ProfileSummary } from './profile.js';
import { combineRuns, formatMarkdown, formatTable, type ScenarioResult, type ScenarioRun } from './report.js';
import type { BenchWorld } from './world.js';

const RESOURCE = 'http://localhost:3003';
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS_PER_ROUND = Math.max(1, Math.round(DURATION_S / ROUNDS));
const WARMUP_S = Math.max(2, Math.round(DURATION_S / 4));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || '';
const SIGNING = process.env.BENCH_SIGNING === 'pool' ? 'pool' : 'inline';
/**
 * The server runs the built packages (`pnpm bench` builds them first), as deployed; `BENCH_SOURCE=1`
 * runs their TypeScript through tsx instead (no build needed, slower per request).
 */
const SERVER_PACKAGES = process.env.BENCH_SOURCE === '1' ? 'source' : 'built';

// --- Pinning ----------------------------------------------------------------------------------------

const pinning = pinLoadGenerator();

// --- The three parties --------------------------------------------------------------------------------

const ps = createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' });
const agent: KeyPair = makeKeyPair('Ed25519', 'bench-agent');
// A person of its own per run, so a reused PostgreSQL database still answers with three notes.
const personSub = `bench-person-${randomUUID()}`;
const authToken = ps.issue(
  'auth',
  {
    aud: RESOURCE,
    ps: ps.issuer,
    sub: personSub,
    cnf: { jwk: agent.jwk },
    scope: 'notes.read notes.write',
  } as never,
  { lifetimeSeconds: 3600 },
);
const world: BenchWorld = {
  resource: RESOURCE,
  ps: ps.issuer,
  psJwks: ps.jwks().keys as unknown as Record<string, unknown>[],
  agentJwk: toPublicJwks([agent]).keys[0] as unknown as Record<string, unknown>,
  personSub,
};

/** Signs `GET path` as the agent, now: `Signature-Input`, `Signature`, `Signature-Key`. */
function signGet(path: string): Record<string, string> {
  const headers = signRequest(
    { method: 'GET', url: `${RESOURCE}${path}`, headers: {} },
    { key: agent, signatureKey: { scheme: 'jwt', jwt: authToken }, clock: systemClock },
  );
  return { ...headers };
}

/** Pool mode: one signature per `(path, second)` — the bytes inline signing would produce, Ed25519 being deterministic. */
const pool = new Map<string, Record<string, string>>();
function pooledGet(path: string): Record<string, string> {
  const id = `${path} ${Math.floor(Date.now() / 1000)}`;
  let headers = pool.get(id);
  if (!headers) {
    if (pool.size > 64) pool.clear();
    headers = signGet(path);
    pool.set(id, headers);
  }
  return headers;
}
const headersFor = SIGNING === 'pool' ? pooledGet : signGet;

// --- The server ---------------------------------------------------------------------------------------

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
  // `BENCH_CPU_PROF=<dir>`: a V8 CPU profile of the server over the whole run.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const { child, ready } = await startChild(
    new URL('./server.ts', import.meta.url),
    {
      name: 'the server',
      nodeArgs: profile,
      env: { BENCH_WORLD: JSON.stringify(world), DATABASE_URL },
      packages: SERVER_PACKAGES,
    },
    (m) => (m.type === 'listening' && typeof m.port === 'number' ? m.port : undefined),
  );
  return { child, port: ready };
}

async function request(port: number, method: string, path: string, body?: string): Promise<Response> {
  const bodyInit = body === undefined ? undefined : Buffer.from(body, 'utf8');
  const baseHeaders: Record<string, string> =
    body === undefined ? {} : { 'content-type': 'application/json' };
  const signed = signRequest(
    { method, url: `${RESOURCE}${path}`, headers: baseHeaders, ...(bodyInit ? { body: bodyInit } : {}) },
    { key: agent, signatureKey: { scheme: 'jwt', jwt: authToken }, clock: systemClock },
  );
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...baseHeaders, ...signed },
    ...(bodyInit ? { body: bodyInit } : {}),
  });
}

// --- Load -----------------------------------------------------------------------------------------------

interface LoadOptions {
  readonly port: number;
  readonly path: string;
  readonly seconds: number;
  readonly overallRate?: number;
}

async function runLoad(
  options: LoadOptions,
): Promise<{ result: autocannon.Result; latencies: number[]; cpu: number }> {
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  let finish: (result: autocannon.Result) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: `http://127.0.0.1:${options.port}`,
      connections: CONNECTIONS,
      pipelining: 1,
      duration: options.seconds,
      ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
      requests: [
        {
          method: 'GET',
          path: options.path,
          setupRequest: (req) => ({
            ...req,
            headers: { host: 'localhost:3003', ...headersFor(options.path) },
          }),
        },
      ],
    },
    (err, result) => (err ? fail(err) : finish(result)),
  );
  // autocannon's own histogram keeps whole milliseconds; these are the float durations it measured.
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    if (status >= 200 && status < 300) latencies.push(responseTime);
  });
  const result = await done;
  const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpuBefore);
  return { result, latencies, cpu: (used.user + used.system) / elapsedUs };
}

/** The server process's CPU time so far, µs (its own `process.cpuUsage()`). */
function serverCpu(): Promise<number> {
  return ask(child, { type: 'cpu' }, 'cpu', (m) => (typeof m.us === 'number' ? m.us : undefined));
}

async function measure(
  port: number,
  label: string,
  path: string,
  seconds: number,
  overallRate?: number,
): Promise<ScenarioRun> {
  process.stderr.write(`  ${label} …`);
  const serverCpuBefore = await serverCpu();
  const { result, latencies, cpu } = await runLoad({
    port,
    path,
    seconds,
    ...(overallRate === undefined ? {} : { overallRate }),
  });
  const serverCpuUs = (await serverCpu()) - serverCpuBefore;
  const run: ScenarioRun = { result, latencies, generatorCpu: cpu, serverCpuUs };
  process.stderr.write(` ${(latencies.length / result.duration).toFixed(0)} req/s\n`);
  return run;
}

// --- Run ------------------------------------------------------------------------------------------------

const { child, port } = await startServer();
try {
  // A few notes for the person, written through the app's own signed POST route.
  for (const text of ['first note', 'second note', 'third note']) {
    const created = await request(port, 'POST', '/api/notes', JSON.stringify({ text }));
    if (created.status !== 201) throw new Error(`seeding a note: ${created.status} ${await created.text()}`);
  }
  const notesBody = await (await request(port, 'GET', '/api/notes')).text();
  const whoami = await request(port, 'GET', '/api/whoami');
  const whoamiBody = await whoami.text();
  if (whoami.status !== 200) throw new Error(`GET /api/whoami: ${whoami.status} ${whoamiBody}`);
  child.send({ type: 'reply', body: whoamiBody });

  const scenarios = [
    { id: 'a', label: '(a) no authentication (HTTP ceiling of d)', path: '/bench/plain', body: whoamiBody },
    { id: 'b', label: '(b) one raw Ed25519 verify (limit)', path: '/bench/ed25519', body: whoamiBody },
    { id: 'c', label: '(c) @hellocoop/httpsig + jose (peer)', path: '/bench/peer', body: whoamiBody },
    { id: 'd', label: '(d) ours: GET /api/whoami, auth token', path: '/api/whoami', body: whoamiBody },
    { id: 'a2', label: '(a′) notes read, no authentication', path: '/bench/notes', body: notesBody },
    { id: 'd2', label: '(d′) ours: GET /api/notes, auth token', path: '/api/notes', body: notesBody },
  ] as const;
  if (!notesBody.includes('third note')) throw new Error(`GET /api/notes: ${notesBody.slice(0, 200)}`);
  // Every route answers 200 with its reference body, and its warm requests' database statements are counted.
  const statementCount = () =>
    ask(child, { type: 'statements' }, 'statements', (m) =>
      typeof m.count === 'number' ? m.count : undefined,
    );
  const STATEMENT_PROBES = 20;
  const statements: Record<string, number> = {};
  await ask(child, { type: 'statements', action: 'start' }, 'statements', (m) => m.count);
  for (const scenario of scenarios) {
    const before = await statementCount();
    for (let i = 0; i < STATEMENT_PROBES; i++) {
      const response = await request(port, 'GET', scenario.path);
      const text = await response.text();
      if (response.status !== 200 || text !== scenario.body) {
        throw new Error(`${scenario.path} answered ${response.status}: ${text.slice(0, 200)}`);
      }
    }
    statements[scenario.label] = ((await statementCount()) - before) / STATEMENT_PROBES;
  }
  // Counting done: the child stops tracking requests' async context before anything is timed.
  await ask(child, { type: 'statements', action: 'stop' }, 'statements', (m) => m.count);

  process.stderr.write(
    `hot path: ${DURATION_S}s per scenario after ${WARMUP_S}s warm-up, ${CONNECTIONS} connections, ` +
      `signing ${SIGNING}, server on the ${SERVER_PACKAGES} packages, database ${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ` +
      `${pinning ? 'server on core 0, generator on core 1' : 'NOT pinned (no taskset or one core)'}\n`,
  );
  // Rounds interleave the scenarios so that noise from a shared machine falls on all of them alike.
  const runs: Record<string, ScenarioRun[]> = Object.fromEntries(
    scenarios.map((scenario) => [scenario.id, []]),
  );
  for (const scenario of scenarios) await runLoad({ port, path: scenario.path, seconds: WARMUP_S });
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(`round ${round}/${ROUNDS}\n`);
    for (const scenario of scenarios) {
      runs[scenario.id]!.push(await measure(port, scenario.label, scenario.path, SECONDS_PER_ROUND));
    }
  }
  const results: Record<string, ScenarioResult> = {};
  for (const scenario of scenarios) results[scenario.id] = combineRuns(scenario.label, runs[scenario.id]!);

  /** p99 off an unsaturated server: a fixed-rate run at 80 % of the route's own peak. */
  async function atEightyPercent(name: string, path: string, peak: number): Promise<ScenarioResult> {
    const rate = Math.max(1, Math.round(peak * 0.8));
    const label = `${name} at 80 % of peak (${rate} req/s)`;
    return combineRuns(label, [await measure(port, label, path, DURATION_S, rate)]);
  }
  const atRate = await atEightyPercent('(d)', '/api/whoami', results.d!.rps);
  const atRatePrime = await atEightyPercent('(d′)', '/api/notes', results.d2!.rps);
  // Where the time goes: one more saturating run of each under the inspector's CPU profiler.
  const profileOf = (path: string) =>
    profileChild<ProfileSummary>(child, () =>
      runLoad({ port, path, seconds: Math.max(2, SECONDS_PER_ROUND) }),
    );
  const profile = await profileOf('/api/whoami');
  const profilePrime = await profileOf('/api/notes');

  const report = {
    rows: [results.a!, results.b!, results.c!, results.d!, atRate, results.a2!, results.d2!, atRatePrime],
    ratios: {
      db: results.d!.rps / results.b!.rps,
      dc: results.d!.rps / results.c!.rps,
      da: results.d!.rps / results.a!.rps,
      dPrimeAPrime: results.d2!.rps / results.a2!.rps,
    },
    cpuRatios: {
      db: results.b!.serverCpuUs / results.d!.serverCpuUs,
      dc: results.c!.serverCpuUs / results.d!.serverCpuUs,
      dPrimeAPrime: results.a2!.serverCpuUs / results.d2!.serverCpuUs,
    },
    authCostUs: {
      d: results.d!.serverCpuUs - results.a!.serverCpuUs,
      dPrime: results.d2!.serverCpuUs - results.a2!.serverCpuUs,
    },
    p99At80: { d: atRate.p99, dPrime: atRatePrime.p99 },
    statements,
    machine: {
      node: process.version,
      arch: process.arch,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      pinned: pinning,
      database: DATABASE_URL ? 'PostgreSQL' : 'PGlite',
      signing: SIGNING,
      connections: CONNECTIONS,
      seconds: DURATION_S,
      rounds: ROUNDS,
      loadavg: loadavg()
        .map((value) => value.toFixed(2))
        .join(' '),
    },
  };
  process.stdout.write(`\n${formatTable(report)}\n`);
  process.stdout.write(`\n${formatMarkdown(report)}\n`);
  process.stdout.write(`\n${formatProfile('(d) ours: GET /api/whoami', profile)}\n`);
  process.stdout.write(`\n${formatProfile('(d′) ours: GET /api/notes', profilePrime)}\n`);
} finally {
  await stopChild(child, 5000);
}
