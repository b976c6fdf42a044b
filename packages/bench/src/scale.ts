/**
 * `pnpm bench:scale`: how the Person Server's endpoint latency changes with a large database.
 * PostgreSQL only (`BENCH_DATABASE_URL`, `DATABASE_URL` or `TEST_DATABASE_URL`); without one it says
 * so and exits 0.
 *
 * Twice, each time with a fresh database: the real Person Server in a child process pinned to core 0
 * (`issuance-server.ts`, consent flows walked once), first empty, then seeded with `COPY … FROM STDIN`
 * (`BENCH_SCALE_PERSON_TOKENS` retained person-token records, default 10⁶, and `BENCH_SCALE_MISSIONS`
 * missions, default 10⁵, `ANALYZE`d). This process (core 1) sends `BENCH_SCALE_REQUESTS` (default 200)
 * sequential signed requests of each kind — `POST /person` (200, person token) and
 * `POST /mission/{s256}` (200, an accepted update of the agent's own mission) — and reports p50/p99 and
 * the seeded/empty ratio, then prints `EXPLAIN ANALYZE` of the hot queries on the seeded database.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BENCH_DATABASE_URL as DATABASE_URL, pinLoadGenerator, stopChild } from './child.js';
import { ask } from './ipc.js';
import { signAgentRequest } from './ps-browser.js';
import { makePsParties, startPersonServer } from './ps-child.js';
import { quantile } from './report.js';

if (!DATABASE_URL) {
  process.stdout.write(
    'bench:scale: skipped — it needs PostgreSQL: set BENCH_DATABASE_URL, DATABASE_URL or TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres).\n',
  );
  process.exit(0);
}
const PERSON_TOKENS = Number(process.env.BENCH_SCALE_PERSON_TOKENS ?? 1_000_000);
const MISSIONS = Number(process.env.BENCH_SCALE_MISSIONS ?? 100_000);
const REQUESTS = Math.max(10, Number(process.env.BENCH_SCALE_REQUESTS ?? 200));
const PS = 'http://localhost:3001';
const RESOURCE = 'https://resource.example';

const pinning = pinLoadGenerator();
const { agent, world } = makePsParties(PS, RESOURCE);

function startServer(seed: { personTokens: number; missions: number }) {
  return startPersonServer(world, DATABASE_URL, {
    env: { BENCH_SEED_PERSON_TOKENS: String(seed.personTokens), BENCH_SEED_MISSIONS: String(seed.missions) },
  });
}

let sequence = 0;
/** One signed POST, alone on the wire (signed before the clock starts): status and ms. */
async function post(port: number, path: string, members: Record<string, unknown>) {
  sequence += 1;
  const body = JSON.stringify({ ...members, n: sequence });
  const headers = signAgentRequest(PS, agent, 'POST', path, Buffer.from(body, 'utf8'));
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, ms: performance.now() - started, text };
}

async function measure(port: number, path: string, members: Record<string, unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < REQUESTS + 20; i++) {
    const r = await post(port, path, members);
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
    if (i >= 20) latencies.push(r.ms);
  }
  return latencies;
}

interface Phase {
  readonly person: number[];
  readonly mission: number[];
  readonly plans?: string;
  readonly seedSeconds?: { personTokensS: number; missionsS: number };
}

async function phase(seed: { personTokens: number; missions: number }, explain: boolean): Promise<Phase> {
  const started = performance.now();
  const server = await startServer(seed);
  process.stderr.write(
    `  PS ready in ${((performance.now() - started) / 1000).toFixed(1)} s (${seed.personTokens} person tokens, ${seed.missions} missions)\n`,
  );
  try {
    const person = await measure(server.port, '/person', { resource: RESOURCE });
    const mission = await measure(server.port, `/mission/${server.agentMission}`, {
      action: 'update',
      description: 'bench update',
    });
    const plans = explain
      ? await ask(server.child, { type: 'explain' }, 'explain', (m) => m.plans as string | undefined)
      : undefined;
    return {
      person,
      mission,
      ...(plans ? { plans } : {}),
      ...(server.seedSeconds ? { seedSeconds: server.seedSeconds } : {}),
    };
  } finally {
    await stopChild(server.child, 30_000);
  }
}

process.stderr.write(`bench:scale: empty database…\n`);
const empty = await phase({ personTokens: 0, missions: 0 }, false);
process.stderr.write(
  `bench:scale: seeding ${PERSON_TOKENS} person-token records and ${MISSIONS} missions with COPY…\n`,
);
const seeded = await phase({ personTokens: PERSON_TOKENS, missions: MISSIONS }, true);

const lines = [
  `${'PS endpoint (sequential, one at a time)'.padEnd(44)} ${'empty p50'.padStart(10)} ${'p99'.padStart(8)} ${'seeded p50'.padStart(11)} ${'p99'.padStart(8)} ${'ratio p50'.padStart(10)}`,
];
const rows = [
  ['POST /person → person token', empty.person, seeded.person],
  ['POST /mission/{s256} → update accepted', empty.mission, seeded.mission],
] as const;
for (const [label, a, b] of rows) {
  lines.push(
    `${label.padEnd(44)} ${quantile(a, 0.5).toFixed(2).padStart(10)} ${quantile(a, 0.99).toFixed(2).padStart(8)} ${quantile(b, 0.5).toFixed(2).padStart(11)} ${quantile(b, 0.99).toFixed(2).padStart(8)} ${(quantile(b, 0.5) / quantile(a, 0.5)).toFixed(2).padStart(10)}`,
  );
}
if (seeded.seedSeconds) {
  lines.push(
    `seeded with COPY: ${PERSON_TOKENS} person tokens in ${seeded.seedSeconds.personTokensS.toFixed(1)} s, ${MISSIONS} missions in ${seeded.seedSeconds.missionsS.toFixed(1)} s`,
  );
}
lines.push(
  `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, requests=${REQUESTS} per endpoint and database`,
);
process.stdout.write(`\n${lines.join('\n')}\n`);
process.stdout.write(
  `\n| PS endpoint | empty p50 ms | empty p99 ms | seeded p50 ms | seeded p99 ms | seeded / empty (p50) |\n|---|---:|---:|---:|---:|---:|\n${rows
    .map(
      ([label, a, b]) =>
        `| ${label} | ${quantile(a, 0.5).toFixed(2)} | ${quantile(a, 0.99).toFixed(2)} | ${quantile(b, 0.5).toFixed(2)} | ${quantile(b, 0.99).toFixed(2)} | ${(quantile(b, 0.5) / quantile(a, 0.5)).toFixed(2)} |`,
    )
    .join('\n')}\n`,
);
process.stdout.write(`\nEXPLAIN ANALYZE of the hot queries on the seeded database:\n${seeded.plans ?? ''}\n`);
