/**
 * `pnpm bench` (fourth part): the Person Server's mission endpoint, `POST /mission/{s256}`, answering
 * `404 mission_not_found` for a mission that does not exist and for another agent's mission
 * (§Mission Endpoint Errors: the two are the same answer). Whether they also take the same time is
 * measured and reported, never asserted: N requests of each, interleaved in random order over real
 * loopback HTTP, then medians, p99, interquartile ranges and a Mann-Whitney U test of the two samples.
 *
 * The real Person Server (`buildApp`; its own migrated database — PostgreSQL when
 * `BENCH_DATABASE_URL`, `DATABASE_URL` or `TEST_DATABASE_URL` is set, else PGlite) runs in this
 * process on a loopback port; one active mission owned by another agent is written straight to its
 * database. The PS rate-limits failures at a mission's URL per agent (10 per 10 minutes, then
 * `429 slow_down`), so the requests are spread over distinct agent identifiers, 8 failures each.
 * Environment: `BENCH_MISSION_REQUESTS` (300 per class).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLocalKeyResolver, DWK, signRequest, systemClock } from '@aauth-ref/core';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/person-server/app';
import { loadConfig } from '@aauth-ref/person-server/config';
import { seedDemoPersons } from '@aauth-ref/person-server/seed';
import { createPrismaClient } from '@aauth-ref/person-server/stores/prisma';
import { createPrismaPersonStore } from '@aauth-ref/person-server/stores/prisma-persons';
import { createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import { quantile } from './report.js';
import { mannWhitneyU } from './stats.js';

const PS = 'http://localhost:3001';
const N = Math.max(20, Number(process.env.BENCH_MISSION_REQUESTS ?? 300));
const WARMUP_PAIRS = 20;
const FAILURES_PER_AGENT = 8;
const DATABASE_URL =
  process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || '';

const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const agentKey = makeKeyPair();
const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-mission-'));
const { db, drop } = await createTestDatabase({
  migrationsDir: MIGRATIONS_DIR,
  ...(DATABASE_URL ? { url: DATABASE_URL } : {}),
});
const prisma = createPrismaClient(db);
await seedDemoPersons(createPrismaPersonStore(prisma));
const config = loadConfig({
  AAUTH_DEV: '1',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  ISSUER: PS,
  SEED_DEMO_PERSONS: '0',
});
const app = await buildApp(config, {
  database: db,
  prisma,
  psKeys: createKeyRing(generateSigningKeysJwks()),
  apKeys: createKeyRing(generateSigningKeysJwks()),
  remoteKeys: createLocalKeyResolver([ap]),
  logger: false,
  keepDatabaseOpen: true,
});

const digest = () => randomBytes(32).toString('base64url');
const owned = digest();
const person = await prisma.person.findFirstOrThrow();
await prisma.mission.create({
  data: {
    s256: owned,
    blob: Buffer.from('{"description":"bench mission"}'),
    agentIss: ap.issuer,
    agentSub: 'aauth:owner@agent.example',
    personId: person.id,
    status: 'active',
    approvedAt: new Date(),
    description: 'bench mission',
  },
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
const port = address.port;

let agentIndex = 0;
let failuresOfAgent = FAILURES_PER_AGENT;
let agentToken = '';
/** An agent token of a fresh agent identifier every `FAILURES_PER_AGENT` requests (the throttle). */
function currentAgentToken(): string {
  if (failuresOfAgent >= FAILURES_PER_AGENT) {
    agentIndex += 1;
    failuresOfAgent = 0;
    agentToken = ap.issue(
      'agent',
      { sub: `aauth:bench-${agentIndex}@agent.example`, cnf: { jwk: agentKey.jwk }, ps: PS } as never,
      { clock: systemClock, lifetimeSeconds: 3600 },
    );
  }
  failuresOfAgent += 1;
  return agentToken;
}

let sequence = 0;
/** One signed `POST /mission/{s256}` update; signed before the clock starts; returns status and ms. */
async function ask(s256: string): Promise<{ status: number; ms: number; error?: string }> {
  sequence += 1;
  const path = `/mission/${s256}`;
  const body = JSON.stringify({ action: 'update', description: 'bench update', n: sequence });
  const base = { 'content-type': 'application/json' };
  const headers = signRequest(
    { method: 'POST', url: `${PS}${path}`, headers: base, body: Buffer.from(body, 'utf8') },
    { key: agentKey, signatureKey: { scheme: 'jwt', jwt: currentAgentToken() }, clock: systemClock },
  );
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { host: new URL(PS).host, ...base, ...headers },
    body,
  });
  const text = await response.text();
  const ms = performance.now() - started;
  const error = (() => {
    try {
      return (JSON.parse(text) as { error?: string }).error;
    } catch {
      return undefined;
    }
  })();
  return { status: response.status, ms, ...(error ? { error } : {}) };
}

process.stderr.write(
  `mission-timing: ${N} requests per class, interleaved, ${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}…\n`,
);
const notFound: number[] = [];
const notOwner: number[] = [];
const unexpected = new Map<string, number>();
try {
  for (let i = 0; i < WARMUP_PAIRS + N; i++) {
    const order = Math.random() < 0.5 ? (['missing', 'foreign'] as const) : (['foreign', 'missing'] as const);
    for (const kind of order) {
      const r = await ask(kind === 'missing' ? digest() : owned);
      if (r.status !== 404 || r.error !== 'mission_not_found') {
        const key = `${kind}: ${r.status} ${r.error ?? ''}`;
        unexpected.set(key, (unexpected.get(key) ?? 0) + 1);
        continue;
      }
      if (i < WARMUP_PAIRS) continue;
      (kind === 'missing' ? notFound : notOwner).push(r.ms);
    }
  }
} finally {
  await app.close();
  await prisma.$disconnect();
  await drop();
  await rm(dataDir, { recursive: true, force: true });
}

const describe = (values: readonly number[]) => ({
  n: values.length,
  p25: quantile(values, 0.25),
  p50: quantile(values, 0.5),
  p75: quantile(values, 0.75),
  p99: quantile(values, 0.99),
});
const a = describe(notFound);
const b = describe(notOwner);
const test = mannWhitneyU(notFound, notOwner);
const overlap = Math.max(0, Math.min(a.p75, b.p75) - Math.max(a.p25, b.p25));
const lines = [
  `${'mission endpoint, 404 mission_not_found'.padEnd(44)} ${'n'.padStart(5)} ${'p25 ms'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p75 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
];
for (const [label, d] of [
  ['unknown mission (not found)', a],
  ["another agent's mission (not owner)", b],
] as const) {
  lines.push(
    `${label.padEnd(44)} ${String(d.n).padStart(5)} ${d.p25.toFixed(2).padStart(8)} ${d.p50.toFixed(2).padStart(8)} ${d.p75.toFixed(2).padStart(8)} ${d.p99.toFixed(2).padStart(8)}`,
  );
}
lines.push(
  `median difference (not owner − not found) = ${(b.p50 - a.p50).toFixed(3)} ms; IQR overlap ${overlap.toFixed(3)} ms of IQRs ${(a.p75 - a.p25).toFixed(3)} / ${(b.p75 - b.p25).toFixed(3)} ms`,
);
lines.push(
  `Mann-Whitney U = ${test.u.toFixed(0)}, z = ${test.z.toFixed(2)}, two-sided p ≈ ${test.p.toFixed(3)}; P(not owner slower) = ${test.probabilityGreater.toFixed(3)} (0.5 = indistinguishable)`,
);
if (unexpected.size > 0) {
  lines.push(
    `unexpected answers (not counted): ${[...unexpected].map(([k, v]) => `${k} × ${v}`).join(', ')}`,
  );
}
lines.push(
  `node=${process.version}, database=${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, agents=${agentIndex}`,
);
process.stdout.write(`\n${lines.join('\n')}\n`);
process.stdout.write(
  `\n| Mission endpoint 404 | n | p25 ms | p50 ms | p75 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n` +
    `| unknown mission | ${a.n} | ${a.p25.toFixed(2)} | ${a.p50.toFixed(2)} | ${a.p75.toFixed(2)} | ${a.p99.toFixed(2)} |\n` +
    `| another agent's mission | ${b.n} | ${b.p25.toFixed(2)} | ${b.p50.toFixed(2)} | ${b.p75.toFixed(2)} | ${b.p99.toFixed(2)} |\n\n` +
    `Mann-Whitney U: z = ${test.z.toFixed(2)}, p ≈ ${test.p.toFixed(3)}, P(not owner slower) = ${test.probabilityGreater.toFixed(3)}.\n`,
);
process.exit(0);
