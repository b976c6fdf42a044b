/**
 * `pnpm bench:scale` (second part): the resource hot path with 1, 1 000 and 100 000 distinct agents.
 *
 * For each count, a fresh resource server (`server.ts`, the real `buildApp`; PGlite in a temporary
 * directory — the caches are what is measured, not the database) in a child pinned to core 0, started
 * with `--expose-gc`; this process (core 1) makes that many agent keys and auth tokens (one stub PS,
 * one person) and drives `GET /api/notes` with autocannon, cycling through the agents: each request
 * signed by its agent with its own token. With more distinct tokens than the verifier's bounded caches
 * hold (verified tokens: 10 000; parsed `Signature-Key` values: 2 000), every request pays the full
 * token verification and key import again. Reported: req/s, p50/p99 and the child's RSS and live heap
 * (after a full GC) before and after, per distinct token served.
 * Environment: `BENCH_SCALE_AGENTS` (default `1,1000,20000`: making 100 000 keys and tokens took over five
 * minutes on the shared 2-core machine; `1,1000,100000` is the full profile), `BENCH_SCALE_AGENT_SECONDS` (10).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DWK, type KeyPair, signRequest, systemClock, toPublicJwks } from '@aauth-ref/core';
import { createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import autocannon from 'autocannon';
import { ask } from './ipc.js';
import { quantile } from './report.js';
import type { BenchWorld } from './world.js';

const RESOURCE = 'http://localhost:3003';
const COUNTS = (process.env.BENCH_SCALE_AGENTS ?? '1,1000,20000').split(',').map(Number);
const SECONDS = Math.max(2, Number(process.env.BENCH_SCALE_AGENT_SECONDS ?? 10));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const pinning = hasTaskset() && cpus().length >= 2;
if (pinning) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });

const ps = createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' });

interface Agent {
  readonly key: KeyPair;
  readonly token: string;
}

function makeAgents(n: number): Agent[] {
  const agents: Agent[] = [];
  for (let i = 0; i < n; i++) {
    const key = makeKeyPair('Ed25519', `agent-${i}`);
    const token = ps.issue(
      'auth',
      {
        aud: RESOURCE,
        ps: ps.issuer,
        sub: 'bench-scale-person',
        cnf: { jwk: key.jwk },
        scope: 'notes.read',
      } as never,
      { lifetimeSeconds: 3600 },
    );
    agents.push({ key, token });
  }
  return agents;
}

async function startServer(agent: Agent): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./server.ts', import.meta.url));
  const nodeArgs = ['--expose-gc', '--conditions=source', '--import', 'tsx', script];
  const [command, args] = pinning
    ? ['taskset', ['-c', '0', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const world: BenchWorld = {
    resource: RESOURCE,
    ps: ps.issuer,
    psJwks: ps.jwks().keys as unknown as Record<string, unknown>[],
    agentJwk: toPublicJwks([agent.key]).keys[0] as unknown as Record<string, unknown>,
    personSub: 'bench-scale-person',
  };
  const child = spawn(command, args as string[], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_WORLD: JSON.stringify(world), DATABASE_URL: '', NODE_ENV: 'production' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited (${String(code)}) before listening`)));
    child.on('message', (message: unknown) => {
      const { type, port: p } = message as { type?: string; port?: number };
      if (type === 'listening' && typeof p === 'number') resolve(p);
    });
  });
  return { child, port };
}

const memory = (child: ChildProcess) =>
  ask(child, { type: 'memory' }, 'memory', (m) =>
    typeof m.rss === 'number' ? { rss: m.rss as number, heapUsed: m.heapUsed as number } : undefined,
  );

function signedGet(agent: Agent): Record<string, string> {
  return {
    ...signRequest(
      { method: 'GET', url: `${RESOURCE}/api/notes`, headers: {} },
      { key: agent.key, signatureKey: { scheme: 'jwt', jwt: agent.token }, clock: systemClock },
    ),
  };
}

async function load(port: number, agents: readonly Agent[], seconds: number) {
  let next = 0;
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            path: '/api/notes',
            setupRequest: (req) => {
              const agent = agents[next % agents.length]!;
              next += 1;
              return { ...req, headers: { host: new URL(RESOURCE).host, ...signedGet(agent) } };
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
  return { result, latencies, served: next };
}

const rows: string[] = [];
for (const count of COUNTS) {
  process.stderr.write(`scale-agents: ${count} agents — making keys and tokens…\n`);
  const agents = makeAgents(count);
  const { child, port } = await startServer(agents[0]!);
  try {
    const probe = await fetch(`http://127.0.0.1:${port}/api/notes`, {
      headers: { host: new URL(RESOURCE).host, ...signedGet(agents[0]!) },
    });
    if (probe.status !== 200)
      throw new Error(`GET /api/notes answered ${probe.status}: ${await probe.text()}`);
    // Warm-up on one agent so the JIT and the database are warm but the caches hold one entry.
    await load(port, agents.slice(0, 1), 2);
    const before = await memory(child);
    const run = await load(port, agents, SECONDS);
    const after = await memory(child);
    const distinct = Math.min(run.served, count);
    const rps = run.latencies.length / run.result.duration;
    rows.push(
      `| ${count.toLocaleString('en')} | ${distinct.toLocaleString('en')} | ${rps.toFixed(0)} | ${quantile(run.latencies, 0.5).toFixed(2)} | ${quantile(run.latencies, 0.99).toFixed(2)} | ${((after.rss - before.rss) / 2 ** 20).toFixed(1)} | ${((after.heapUsed - before.heapUsed) / 2 ** 20).toFixed(1)} | ${distinct > 1 ? ((after.heapUsed - before.heapUsed) / (distinct - 1) / 1024).toFixed(2) : '—'} | ${run.result.non2xx} |`,
    );
    process.stderr.write(`  ${rows.at(-1)}\n`);
  } finally {
    child.send({ type: 'stop' });
    await new Promise((resolve) => {
      child.once('exit', resolve);
      setTimeout(resolve, 10_000).unref();
    });
  }
}
process.stdout.write(
  `\n| distinct agents | distinct tokens served | req/s | p50 ms | p99 ms | Δ RSS MiB | Δ live heap MiB | Δ heap per extra token KiB | non-2xx |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n`,
);
process.stdout.write(
  `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, ${SECONDS}s per count, ${CONNECTIONS} connections, verified-token cache 10 000 entries\n`,
);
