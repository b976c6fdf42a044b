/**
 * `pnpm bench:scale` (second part): the resource hot path with 1, 1 000 and 100 000 distinct agents.
 *
 * For each count, a fresh resource server (`server.ts`, the real `buildApp`, on a fresh database of its
 * own on the PostgreSQL server of `BENCH_DATABASE_URL` when set — a first sight of a token writes its
 * record once, and PGlite's single session made that the limit — else PGlite) in a child pinned to
 * core 0, started with `--expose-gc`; this process (core 1) drives `GET /api/whoami` (the hot path with no database
 * work) with autocannon, each request signed by its agent with its own auth token (one stub PS, one
 * person). Three phases:
 *
 * 1. warm-up on one agent (JIT warm, caches holding one entry), then the child's RSS and live heap
 *    (after a full GC);
 * 2. fill: one request for each of the first min(count, `BENCH_SCALE_AGENT_FILL`) agents — every one a
 *    first sight (full token verification and key import) — then RSS and live heap again: the growth
 *    per distinct agent is the memory of one cached entry, and past the verifier's bound (10 000
 *    verified tokens) it stops growing;
 * 3. timed: `BENCH_SCALE_AGENT_SECONDS` of requests cycling through all `count` agents, continuing
 *    after the fill: with 1 or 1 000 agents every token is cached (warm); with 100 000, more than the
 *    bound, an LRU under a cyclic pattern misses every time (cold).
 *
 * Agents are made lazily, on their first request, with `node:crypto` (an Ed25519 key, its JWK and
 * thumbprint, one signed token: ≈ 0.2–0.3 ms here): a run serves only the agents it reaches, so a
 * count of 100 000 costs what it serves, not 100 000 key pairs up front (that took over five minutes
 * on the loaded shared machine).
 * Environment: `BENCH_SCALE_AGENTS` (default `1,1000,100000`), `BENCH_SCALE_AGENT_SECONDS` (10),
 * `BENCH_SCALE_AGENT_FILL` (11 000: 10 % past the verified-token bound), `BENCH_CONNECTIONS` (10).
 */
import type { ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { DWK, type KeyPair, signRequest, systemClock, toPublicJwks } from '@aauth-ref/core';
import { createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import autocannon from 'autocannon';
import { BENCH_DATABASE_URL, pinLoadGenerator, startChild, stopChild } from './child.js';
import { ask } from './ipc.js';
import { quantile } from './report.js';
import type { BenchWorld } from './world.js';

const RESOURCE = 'http://localhost:3003';
const PATH = '/api/whoami';
const COUNTS = (process.env.BENCH_SCALE_AGENTS ?? '1,1000,100000').split(',').map(Number);
const SECONDS = Math.max(2, Number(process.env.BENCH_SCALE_AGENT_SECONDS ?? 10));
const FILL = Math.max(1, Number(process.env.BENCH_SCALE_AGENT_FILL ?? 11_000));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
/** The verifier's default bound (`@aauth-ref/core` tokens/verify.ts). */
const VERIFIED_TOKEN_CACHE = 10_000;

const pinning = pinLoadGenerator();
const ps = createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' });
const PERSON = 'bench-scale-person';

interface Agent {
  readonly key: KeyPair;
  readonly token: string;
}

/** The agents of one count, made on first use and kept (the generator signs each request anew). */
function lazyAgents(count: number): { at(i: number): Agent; made(): number } {
  const agents: Agent[] = [];
  return {
    at(i) {
      const index = i % count;
      let agent = agents[index];
      if (agent === undefined) {
        const key = makeKeyPair('Ed25519', `agent-${index}`);
        const token = ps.issue(
          'auth',
          { aud: RESOURCE, ps: ps.issuer, sub: PERSON, cnf: { jwk: key.jwk }, scope: 'notes.read' } as never,
          { lifetimeSeconds: 3600 },
        );
        agent = { key, token };
        agents[index] = agent;
      }
      return agent;
    },
    made: () => agents.filter(Boolean).length,
  };
}

function signedGet(agent: Agent): Record<string, string> {
  return {
    host: new URL(RESOURCE).host,
    ...signRequest(
      { method: 'GET', url: `${RESOURCE}${PATH}`, headers: {} },
      { key: agent.key, signatureKey: { scheme: 'jwt', jwt: agent.token }, clock: systemClock },
    ),
  };
}

async function startServer(agent: Agent): Promise<{ child: ChildProcess; port: number }> {
  const world: BenchWorld = {
    resource: RESOURCE,
    ps: ps.issuer,
    psJwks: ps.jwks().keys as unknown as Record<string, unknown>[],
    agentJwk: toPublicJwks([agent.key]).keys[0] as unknown as Record<string, unknown>,
    personSub: PERSON,
  };
  const { child, ready } = await startChild(
    new URL('./server.ts', import.meta.url),
    {
      name: 'the resource server',
      nodeArgs: ['--expose-gc'],
      env: { BENCH_WORLD: JSON.stringify(world), DATABASE_URL: '', BENCH_PG_URL: BENCH_DATABASE_URL },
    },
    (m) => (m.type === 'listening' && typeof m.port === 'number' ? m.port : undefined),
  );
  return { child, port: ready };
}

const memory = (child: ChildProcess) =>
  ask(child, { type: 'memory' }, 'memory', (m) =>
    typeof m.rss === 'number' ? { rss: m.rss as number, heapUsed: m.heapUsed as number } : undefined,
  );

/** Requests agents `from`, `from + 1`, … with autocannon for `seconds`. */
async function load(port: number, agent: (i: number) => Agent, from: number, seconds: number) {
  let next = from;
  const latencies: number[] = [];
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            path: PATH,
            setupRequest: (req) => {
              const headers = signedGet(agent(next));
              next += 1;
              return { ...req, headers };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
      if (status === 200) latencies.push(ms);
    });
  });
  const elapsed = (performance.now() - started) / 1000;
  return { latencies, next, seconds: elapsed, failed: result.non2xx + result.errors };
}

/**
 * Exactly one request for each of agents 0 … amount − 1, `CONNECTIONS` at a time (autocannon's
 * `amount` was seen to hang here with connections left half-closed, so plain `fetch` workers).
 */
async function fill(port: number, agent: (i: number) => Agent, amount: number) {
  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const worker = async () => {
    while (next < amount) {
      const headers = signedGet(agent(next));
      next += 1;
      const sent = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers });
      await response.arrayBuffer();
      if (response.status === 200) latencies.push(performance.now() - sent);
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTIONS, amount) }, worker));
  return { latencies, seconds: (performance.now() - started) / 1000, failed };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const rows: string[] = [];
for (const count of COUNTS) {
  const agents = lazyAgents(count);
  const { child, port } = await startServer(agents.at(0));
  try {
    const probe = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers: signedGet(agents.at(0)) });
    if (probe.status !== 200) throw new Error(`GET ${PATH} answered ${probe.status}: ${await probe.text()}`);
    await load(port, () => agents.at(0), 0, 2);
    const before = await memory(child);
    const fillCount = Math.min(count, FILL);
    process.stderr.write(`scale-agents: ${count} agents — fill: ${fillCount} first sights…\n`);
    const filled = await fill(port, agents.at, fillCount);
    const afterFill = await memory(child);
    process.stderr.write(`scale-agents: ${count} agents — ${SECONDS}s cycling through all of them…\n`);
    const run = await load(port, agents.at, fillCount, SECONDS);
    const afterRun = await memory(child);
    // Per first sight, not per cached entry: past the bound the growth stops, and this figure falls.
    const perSight =
      fillCount > 1 ? ((afterFill.heapUsed - before.heapUsed) / (fillCount - 1) / 1024).toFixed(2) : '—';
    const served = run.next - fillCount;
    const state = count <= Math.min(fillCount, VERIFIED_TOKEN_CACHE) ? 'warm' : 'cold (first sights)';
    rows.push(
      `| ${count.toLocaleString('en')} | ${fillCount.toLocaleString('en')} | ${(filled.latencies.length / filled.seconds).toFixed(0)} | ${mib(afterFill.rss - before.rss)} | ${mib(afterFill.heapUsed - before.heapUsed)} | ${perSight} | ${served.toLocaleString('en')} | ${state} | ${(run.latencies.length / run.seconds).toFixed(0)} | ${quantile(run.latencies, 0.5).toFixed(2)} | ${quantile(run.latencies, 0.99).toFixed(2)} | ${mib(afterRun.heapUsed - before.heapUsed)} | ${filled.failed + run.failed} |`,
    );
    process.stderr.write(`  ${rows.at(-1)} (agents made: ${agents.made()})\n`);
  } finally {
    await stopChild(child);
  }
}
process.stdout.write(
  `\n| distinct agents | fill: first sights | fill req/s | Δ RSS MiB | Δ live heap MiB | Δ heap per first sight KiB | timed: requests | cache | req/s | p50 ms | p99 ms | Δ live heap after timed MiB | non-2xx |\n|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n`,
);
process.stdout.write(
  `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, database=${BENCH_DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, GET ${PATH}, fill ≤ ${FILL}, ${SECONDS}s timed per count, ${CONNECTIONS} connections, verified-token cache ${VERIFIED_TOKEN_CACHE} entries, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
