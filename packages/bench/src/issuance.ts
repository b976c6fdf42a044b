/**
 * `pnpm bench` (bench, second part): Person Server issuance under HTTP load, against the
 * cryptographic bound of the same request measured in the same run.
 *
 * The Person Server runs in a child process pinned to core 0 (`issuance-server.ts`; it walks the
 * agent through the real consent flows once before listening); this process pins itself to core 1
 * and drives it with autocannon over loopback, signing every request as it is built (body covered,
 * fresh `created`: these are state-changing routes with a replay cache). Scenarios:
 *
 * - (p) `POST /person`  `{ resource }` from a bound agent → 200 person token (§Person Token Endpoint);
 * - (t) `POST /token`   `{ resource_token }` with consent already given → 200 auth token (three-party,
 *                       §Auth Token Request).
 *
 * The bound: what no correct PS can skip for that request, priced with `node:crypto` on the server's
 * core in the same run — the request signature and the agent token verified, plus the resource token
 * for (t), and one Ed25519 signing of the issued token. Then one profiled run per scenario (inspector
 * CPU profile of the server) says where the rest goes.
 * Environment: `BENCH_DURATION_S` (default 15 per scenario, split over the rounds), `BENCH_ROUNDS` (3),
 * `BENCH_CONNECTIONS` (10), `BENCH_DATABASE_URL`, `DATABASE_URL` or `TEST_DATABASE_URL` (a PostgreSQL
 * server: a fresh database is created on it from the PS migrations and dropped after; PGlite otherwise).
 */
import { cpus } from 'node:os';
import { BENCH_DATABASE_URL as DATABASE_URL, pinLoadGenerator, stopChild } from './child.js';
import type { CryptoCosts } from './crypto-cost.js';
import { ask, profileChild } from './ipc.js';
import { runSignedPostLoad } from './load.js';
import { formatProfile, type ProfileSummary } from './profile.js';
import { signAgentRequest } from './ps-browser.js';
import { makePsParties, startPersonServer } from './ps-child.js';
import { combineRuns, type ScenarioResult, type ScenarioRun } from './report.js';

const PS = 'http://localhost:3001';
const RESOURCE = 'https://resource.example';
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS_PER_ROUND = Math.max(1, Math.round(DURATION_S / ROUNDS));
const WARMUP_S = Math.max(2, Math.round(DURATION_S / 4));
const PROFILE_S = Math.max(2, SECONDS_PER_ROUND);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const pinning = pinLoadGenerator();

// --- The parties: an agent of another AP, the PS under test, a resource (its key lives in the child) ---

const { agent, world } = makePsParties(PS, RESOURCE);

// --- Load -----------------------------------------------------------------------------------------------

const signedPost = (path: string, body: string) =>
  signAgentRequest(PS, agent, 'POST', path, Buffer.from(body, 'utf8'));

/**
 * Ed25519 is deterministic and `created` has one-second resolution: two identical requests signed in
 * the same second are byte-identical, and the second is a replay (§Freshness and Replay). Each body
 * therefore carries a sequence number `n`, a member the PS ignores.
 */
let sequence = 0;
function bodyOf(members: Record<string, unknown>): string {
  sequence += 1;
  return JSON.stringify({ ...members, n: sequence });
}

function runLoad(
  port: number,
  path: string,
  members: Record<string, unknown>,
  seconds: number,
): Promise<ScenarioRun> {
  return runSignedPostLoad({
    port,
    path,
    seconds,
    connections: CONNECTIONS,
    next: () => {
      const body = bodyOf(members);
      return { body, headers: signedPost(path, body) };
    },
  });
}

// --- Run ------------------------------------------------------------------------------------------------

process.stderr.write(
  `issuance: starting the Person Server (${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}) and running the consent flows once…\n`,
);
const { child, port, resourceToken } = await startPersonServer(world, DATABASE_URL);
try {
  const scenarios = [
    {
      id: 'p',
      label: '(p) POST /person → person token',
      path: '/person',
      members: { resource: RESOURCE },
      // The request signature and the agent token (in Signature-Key).
      verifications: 2,
    },
    {
      id: 't',
      label: '(t) POST /token → auth token (3-party)',
      path: '/token',
      members: { resource_token: resourceToken },
      // The request signature, the agent token and the resource token.
      verifications: 3,
    },
  ] as const;
  process.stderr.write(
    `issuance: ${DURATION_S}s per scenario after ${WARMUP_S}s warm-up, ${CONNECTIONS} connections, ` +
      `${pinning ? 'server on core 0, generator on core 1' : 'NOT pinned (no taskset or one core)'}\n`,
  );
  // Each route answers 200 to the generator's own signed request before anything is timed.
  for (const s of scenarios) {
    const body = bodyOf(s.members);
    const response = await fetch(`http://127.0.0.1:${port}${s.path}`, {
      method: 'POST',
      headers: signedPost(s.path, body),
      body,
    });
    if (response.status !== 200) {
      throw new Error(`${s.path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    }
  }
  for (const s of scenarios) await runLoad(port, s.path, s.members, WARMUP_S);
  const runs: Record<string, ScenarioRun[]> = { p: [], t: [] };
  const costs: CryptoCosts[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(`round ${round}/${ROUNDS}\n`);
    for (const s of scenarios) {
      const run = await runLoad(port, s.path, s.members, SECONDS_PER_ROUND);
      if (run.result.non2xx > 0) process.stderr.write(`  ${s.label}: ${run.result.non2xx} non-2xx answers\n`);
      process.stderr.write(
        `  ${s.label} … ${(run.latencies.length / run.result.duration).toFixed(0)} req/s\n`,
      );
      runs[s.id]!.push(run);
    }
    // The bound, priced between rounds so it sees the same machine load as the runs around it.
    costs.push(await ask(child, { type: 'crypto' }, 'crypto', (m) => m.costs as CryptoCosts | undefined));
  }
  const verifyUs = median(costs.map((c) => c.verifyUs));
  const signUs = median(costs.map((c) => c.signUs));
  const profiles: Record<string, ProfileSummary> = {};
  for (const s of scenarios) {
    profiles[s.id] = await profileChild<ProfileSummary>(child, () =>
      runLoad(port, s.path, s.members, PROFILE_S),
    );
  }

  const rows = scenarios.map((s) => {
    const result: ScenarioResult = combineRuns(s.label, runs[s.id]!);
    const boundUs = s.verifications * verifyUs + signUs;
    return {
      ...result,
      verifications: s.verifications,
      boundRps: 1e6 / boundUs,
      ratio: result.rps / (1e6 / boundUs),
    };
  });
  const lines = [
    `${'scenario'.padEnd(40)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'bound/s'.padStart(8)} ${'ratio'.padStart(6)} ${'non-2xx'.padStart(8)} ${'gen CPU'.padStart(8)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.label.padEnd(40)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.boundRps.toFixed(0).padStart(8)} ${r.ratio.toFixed(3).padStart(6)} ${String(r.non2xx + r.errors).padStart(8)} ${r.generatorCpu.toFixed(2).padStart(8)}`,
    );
  }
  lines.push(
    `bound = verifications × ${verifyUs.toFixed(1)} µs (Ed25519 verify) + ${signUs.toFixed(1)} µs (Ed25519 sign), node:crypto on the server's core, same run`,
  );
  lines.push(
    `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, database=${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, connections=${CONNECTIONS}, seconds=${DURATION_S}, rounds=${ROUNDS}`,
  );
  process.stdout.write(`\n${lines.join('\n')}\n`);
  const markdown = [
    '| Scenario | req/s | p50 ms | p99 ms | bound req/s | ratio to bound |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    markdown.push(
      `| ${r.label} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.boundRps.toFixed(0)} (${r.verifications} verify + 1 sign) | **${r.ratio.toFixed(3)}** |`,
    );
  }
  process.stdout.write(`\n${markdown.join('\n')}\n`);
  for (const s of scenarios) process.stdout.write(`\n${formatProfile(s.label, profiles[s.id]!)}\n`);
} finally {
  await stopChild(child);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
