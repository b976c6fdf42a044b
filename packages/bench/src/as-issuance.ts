/**
 * `pnpm bench` (third part): Access Server issuance for the four-party exchange (PS → AS token
 * endpoint, §Auth Token Request to the AS) under HTTP load against the cryptographic bound of that
 * request measured in the same run, then the cold paths of key discovery.
 *
 * The AS runs in a child process pinned to core 0 (`as-issuance-server.ts`, the real `buildApp` with
 * HTTP key discovery through egress admission); this process pins itself to core 1, serves the
 * parties' metadata and JWKS on loopback (`startTestIssuerServer`: a PS signing with `jwks_uri`, a
 * resource, an Agent Provider) and drives the AS with autocannon, each request signed by the PS as it
 * is built (body covered, fresh `created`). The PS is on the AS's trust list and the policy grants the
 * scope, so every answer is `200` with an auth token.
 *
 * - (a) `POST /token` `{ resource_token, agent_token }` signed by a known PS → 200 auth token.
 *   Bound: what no correct AS can skip — the PS's request signature (`jwks_uri` key), the resource
 *   token and the agent token verified, one Ed25519 signing of the auth token; node:crypto on the
 *   AS's core, same run.
 * - Cold paths (sequential requests, one at a time, medians): the first request from a PS the AS has
 *   never seen (its metadata + JWKS fetched through egress admission on loopback) and the first
 *   request after that PS rotated to a new `kid` (one JWKS refetch: the refetch floor of one minute is
 *   passed by moving both processes' clocks 61 s), each as a ratio to a warm request in the same run.
 *
 * Environment: `BENCH_DURATION_S` (default 15, split over the rounds), `BENCH_ROUNDS` (3),
 * `BENCH_CONNECTIONS` (10), `BENCH_COLD_ISSUERS` (20), `BENCH_WARM_REQUESTS` (200),
 * `BENCH_DATABASE_URL`, `DATABASE_URL` or `TEST_DATABASE_URL` (PostgreSQL; PGlite otherwise).
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Clock, DWK, type KeyPair, signRequest } from '@aauth-ref/core';
import {
  makeKeyPair,
  startTestAgentProvider,
  startTestIssuerServer,
  type TestIssuerServer,
} from '@aauth-ref/testkit';
import type { AsWorld } from './as-issuance-server.js';
import { BENCH_DATABASE_URL as DATABASE_URL, pinLoadGenerator, startChild, stopChild } from './child.js';
import type { CryptoCosts } from './crypto-cost.js';
import { ask, profileChild } from './ipc.js';
import { runSignedPostLoad } from './load.js';
import { formatProfile, type ProfileSummary } from './profile.js';
import { combineRuns, quantile, type ScenarioRun } from './report.js';

const AS = 'http://localhost:3002';
const SCOPE = 'notes.read';
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS_PER_ROUND = Math.max(1, Math.round(DURATION_S / ROUNDS));
const WARMUP_S = Math.max(2, Math.round(DURATION_S / 4));
const PROFILE_S = Math.max(2, SECONDS_PER_ROUND);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const COLD_ISSUERS = Math.max(1, Number(process.env.BENCH_COLD_ISSUERS ?? 20));
const WARM_REQUESTS = Math.max(10, Number(process.env.BENCH_WARM_REQUESTS ?? 200));
const pinning = pinLoadGenerator();

/** System time plus the offset the AS child is told about (`advance`), so both agree on `created`. */
let offsetMs = 0;
const clock: Clock = { now: () => Date.now() + offsetMs };

// --- The parties, served on loopback by this process ---------------------------------------------------

const ps = await startTestIssuerServer({ dwk: DWK.person });
const resource = await startTestIssuerServer({ dwk: DWK.resource });
const ap = await startTestAgentProvider();
const coldPs: TestIssuerServer[] = [];
for (let i = 0; i < COLD_ISSUERS; i++) coldPs.push(await startTestIssuerServer({ dwk: DWK.person }));
const agentKey: KeyPair = makeKeyPair();
const parties = [ps, resource, ap, ...coldPs];

/** The agent token (ps = the calling PS) and a fresh resource token for it (aud = the AS). */
function tokensFor(caller: TestIssuerServer): { resource_token: string; agent_token: string } {
  return {
    agent_token: ap.mintAgentToken({ cnf: agentKey, ps: caller.issuer, clock, lifetimeSeconds: 3600 }),
    resource_token: resource.issue(
      'resource',
      {
        aud: AS,
        ps: caller.issuer,
        sub: 'bench-person',
        presented_jti: 'bench-person-token',
        agent_jkt: agentKey.thumbprint,
        scope: SCOPE,
      } as never,
      { clock, lifetimeSeconds: 300 },
    ),
  };
}

/**
 * Signs `POST /token` as the PS (`jwks_uri`, `dwk=aauth-person.json`). Each body carries a sequence
 * number `n` (a member the AS ignores) so two requests signed in the same second are not replays.
 */
let sequence = 0;
function signedToken(
  caller: TestIssuerServer,
  members: Record<string, string>,
): { body: string; headers: Record<string, string> } {
  sequence += 1;
  const body = JSON.stringify({ ...members, n: sequence });
  const base = { 'content-type': 'application/json' };
  const headers = signRequest(
    { method: 'POST', url: `${AS}/token`, headers: base, body: Buffer.from(body, 'utf8') },
    {
      key: caller.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: caller.issuer, dwk: DWK.person, kid: caller.signingKey.kid },
      clock,
    },
  );
  return { body, headers: { host: new URL(AS).host, ...base, ...headers } };
}

// --- The server ---------------------------------------------------------------------------------------

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const world: AsWorld = {
    as: AS,
    trustedPersonServers: [ps.issuer, ...coldPs.map((p) => p.issuer)],
    resource: resource.issuer,
    scope: SCOPE,
  };
  const { child, ready } = await startChild(
    new URL('./as-issuance-server.ts', import.meta.url),
    { name: 'the AS', env: { BENCH_AS_WORLD: JSON.stringify(world), BENCH_PG_URL: DATABASE_URL } },
    (m) => (m.type === 'listening' && typeof m.port === 'number' ? m.port : undefined),
  );
  return { child, port: ready };
}

// --- Load and single requests ----------------------------------------------------------------------

function runLoad(port: number, seconds: number): Promise<ScenarioRun> {
  // One token pair per run: the resource token lives 300 s, longer than any run.
  const members = tokensFor(ps);
  return runSignedPostLoad({
    port,
    path: '/token',
    seconds,
    connections: CONNECTIONS,
    next: () => signedToken(ps, members),
  });
}

/** One request, alone on the wire: its status and latency in ms (signing excluded). */
async function once(
  port: number,
  caller: TestIssuerServer,
): Promise<{ status: number; ms: number; body: string }> {
  const { body, headers } = signedToken(caller, tokensFor(caller));
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/token`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, ms: performance.now() - started, body: text };
}

async function sequential(port: number, caller: TestIssuerServer, n: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await once(port, caller);
    if (r.status !== 200) throw new Error(`warm request answered ${r.status}: ${r.body.slice(0, 300)}`);
    latencies.push(r.ms);
  }
  return latencies;
}

// --- Run ------------------------------------------------------------------------------------------------

process.stderr.write(
  `as-issuance: starting the Access Server (${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}), ${COLD_ISSUERS + 3} loopback issuers…\n`,
);
const { child, port } = await startServer();
try {
  const first = await once(port, ps);
  if (first.status !== 200) throw new Error(`/token answered ${first.status}: ${first.body.slice(0, 300)}`);
  process.stderr.write(
    `as-issuance: ${DURATION_S}s after ${WARMUP_S}s warm-up, ${CONNECTIONS} connections, ` +
      `${pinning ? 'server on core 0, generator on core 1' : 'NOT pinned (no taskset or one core)'}\n`,
  );
  await runLoad(port, WARMUP_S);
  const runs: ScenarioRun[] = [];
  const costs: CryptoCosts[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const run = await runLoad(port, SECONDS_PER_ROUND);
    if (run.result.non2xx > 0) process.stderr.write(`  ${run.result.non2xx} non-2xx answers\n`);
    process.stderr.write(
      `round ${round}/${ROUNDS}: ${(run.latencies.length / run.result.duration).toFixed(0)} req/s\n`,
    );
    runs.push(run);
    costs.push(await ask(child, { type: 'crypto' }, 'crypto', (m) => m.costs as CryptoCosts | undefined));
  }
  const profile = await profileChild<ProfileSummary>(child, () => runLoad(port, PROFILE_S));

  // Cold paths: warm baseline, first request per unknown PS, then a rotation per PS.
  process.stderr.write(`as-issuance: cold paths (${COLD_ISSUERS} unknown Person Servers)…\n`);
  const warm = await sequential(port, ps, WARM_REQUESTS);
  const cold: number[] = [];
  const warmAfterCold: number[] = [];
  for (const caller of coldPs) {
    const r = await once(port, caller);
    if (r.status !== 200) throw new Error(`cold request answered ${r.status}: ${r.body.slice(0, 300)}`);
    cold.push(r.ms);
    warmAfterCold.push(...(await sequential(port, caller, 1)));
  }
  // Past the one-minute JWKS refetch floor in both processes, then each PS signs with a new kid.
  offsetMs += 61_000;
  await ask(child, { type: 'advance', ms: 61_000 }, 'advanced', (m) => m.offsetMs as number | undefined);
  await sequential(port, ps, 5);
  const rotation: number[] = [];
  for (const caller of coldPs) {
    caller.setKeys([makeKeyPair(), ...caller.keys]);
    const r = await once(port, caller);
    if (r.status !== 200) throw new Error(`rotated request answered ${r.status}: ${r.body.slice(0, 300)}`);
    rotation.push(r.ms);
  }
  const warm2 = await sequential(port, ps, WARM_REQUESTS);
  const fetches = coldPs.reduce((sum, p) => sum + [...p.hits.values()].reduce((s, n) => s + n, 0), 0);

  const verifyUs = median(costs.map((c) => c.verifyUs));
  const signUs = median(costs.map((c) => c.signUs));
  const result = combineRuns('(a) PS → AS POST /token → auth token', runs);
  const boundUs = 3 * verifyUs + signUs;
  const boundRps = 1e6 / boundUs;
  const ratio = result.rps / boundRps;
  const warmAll = [...warm, ...warm2];
  const warmMedian = quantile(warmAll, 0.5);

  const lines = [
    `${'scenario'.padEnd(40)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'bound/s'.padStart(8)} ${'ratio'.padStart(6)} ${'non-2xx'.padStart(8)} ${'gen CPU'.padStart(8)}`,
    `${result.label.padEnd(40)} ${result.rps.toFixed(0).padStart(7)} ${result.p50.toFixed(2).padStart(8)} ${result.p99.toFixed(2).padStart(8)} ${boundRps.toFixed(0).padStart(8)} ${ratio.toFixed(3).padStart(6)} ${String(result.non2xx + result.errors).padStart(8)} ${result.generatorCpu.toFixed(2).padStart(8)}`,
    `bound = 3 × ${verifyUs.toFixed(1)} µs (Ed25519 verify: PS signature, resource token, agent token) + ${signUs.toFixed(1)} µs (sign), node:crypto on the AS's core, same run`,
    '',
    `${'cold path (sequential, one at a time)'.padEnd(52)} ${'n'.padStart(4)} ${'p50 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'× warm'.padStart(7)}`,
  ];
  const coldRows = [
    ['warm request (known PS, cached keys)', warmAll],
    ['first request from an unknown PS (metadata + JWKS)', cold],
    ['second request from that PS', warmAfterCold],
    ['first request after a rotation (unknown kid → JWKS)', rotation],
  ] as const;
  for (const [label, values] of coldRows) {
    const p50 = quantile(values, 0.5);
    lines.push(
      `${label.padEnd(52)} ${String(values.length).padStart(4)} ${p50.toFixed(2).padStart(8)} ${Math.max(
        ...values,
      )
        .toFixed(2)
        .padStart(8)} ${(p50 / warmMedian).toFixed(2).padStart(7)}`,
    );
  }
  lines.push(
    `loopback issuer requests served to the AS for the ${COLD_ISSUERS} unknown PSs: ${fetches} (expected ${COLD_ISSUERS * 3}: metadata + JWKS, + JWKS after rotation)`,
  );
  lines.push(
    `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, database=${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, connections=${CONNECTIONS}, seconds=${DURATION_S}, rounds=${ROUNDS}`,
  );
  process.stdout.write(`\n${lines.join('\n')}\n`);
  const markdown = [
    '| Scenario | req/s | p50 ms | p99 ms | bound req/s | ratio to bound |',
    '|---|---:|---:|---:|---:|---:|',
    `| ${result.label} | ${result.rps.toFixed(0)} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${boundRps.toFixed(0)} (3 verify + 1 sign) | **${ratio.toFixed(3)}** |`,
    '',
    '| Cold path | n | p50 ms | × warm p50 |',
    '|---|---:|---:|---:|',
    ...coldRows.map(
      ([label, values]) =>
        `| ${label} | ${values.length} | ${quantile(values, 0.5).toFixed(2)} | ${(quantile(values, 0.5) / warmMedian).toFixed(2)} |`,
    ),
  ];
  process.stdout.write(`\n${markdown.join('\n')}\n`);
  process.stdout.write(`\n${formatProfile(result.label, profile)}\n`);
} finally {
  await stopChild(child);
  await Promise.all(parties.map((p) => p.close()));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
