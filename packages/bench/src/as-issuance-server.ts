/**
 * The server side of the Access Server benchmark, run in a child process (pinned to one core by the
 * parent when `taskset` exists). It builds the real Access Server (`buildApp` of
 * `@aauth-ref/auth-server`, its own migrated database: PostgreSQL when the parent passes
 * `BENCH_PG_URL`, else in-memory PGlite) with the default key discovery — HTTP through the egress
 * policy (development mode: loopback admitted) — so the Person Servers, the resource and the Agent
 * Provider the parent serves on loopback (`startTestIssuerServer`) are discovered for real.
 *
 * The policy trusts every Person Server the parent names and grants the benchmark scope to a trusted
 * PS (`ps_trusted`), so `POST /token` answers `200` with an auth token at once (§AS Response: direct
 * grant). The clock is the system clock plus an offset the parent can move (`advance`): it signs with
 * the same offset, so the JWKS refetch floor (once per minute per issuer) can be passed without
 * waiting a minute for the rotation measurement.
 *
 * IPC: `listening` (port), `profile` start/stop, `crypto` (node:crypto costs of the bound, this core),
 * `advance` (ms), `stop`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/auth-server/app';
import { loadConfig } from '@aauth-ref/auth-server/config';
import { createPrismaClient } from '@aauth-ref/auth-server/stores/prisma';
import { storePolicyDocument } from '@aauth-ref/auth-server/stores/prisma-policies';
import type { Clock } from '@aauth-ref/core';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { measureCryptoCosts } from './crypto-cost.js';
import { serveChild } from './serve-child.js';

/** What the parent sends: the AS identifier, the Person Servers to trust, the resource, the scope. */
export interface AsWorld {
  readonly as: string;
  readonly trustedPersonServers: readonly string[];
  readonly resource: string;
  readonly scope: string;
}

const world = JSON.parse(process.env.BENCH_AS_WORLD ?? '') as AsWorld;
let offsetMs = 0;
const clock: Clock = { now: () => Date.now() + offsetMs };

const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-as-'));
const { db, drop } = await createTestDatabase({
  migrationsDir: MIGRATIONS_DIR,
  ...(process.env.BENCH_PG_URL ? { url: process.env.BENCH_PG_URL } : {}),
});
const prisma = createPrismaClient(db);
await storePolicyDocument(prisma, {
  trusted_person_servers: [...world.trustedPersonServers],
  resources: {
    [world.resource]: {
      fallback: 'omit',
      rules: [{ id: 'bench-trusted', scopes: [world.scope], when: { ps_trusted: true }, effect: 'grant' }],
    },
  },
});
const config = loadConfig({
  AAUTH_DEV: '1',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  ISSUER: world.as,
  SEED_DEMO_USERS: '0',
});
const keys = createKeyRing(generateSigningKeysJwks());
const app: FastifyInstance = await buildApp(config, {
  database: db,
  prisma,
  clock,
  keys,
  logger: false,
  keepDatabaseOpen: true,
});

await serveChild(app, {
  release: async () => {
    await prisma.$disconnect();
    await drop();
    await rm(dataDir, { recursive: true, force: true });
  },
  onMessage: ({ type, ms }) => {
    if (type === 'crypto') {
      // Over a token-sized message, with the AS's own key.
      process.send?.({
        type: 'crypto',
        costs: measureCryptoCosts(keys.active, Buffer.from('x'.repeat(600))),
      });
    }
    if (type === 'advance' && typeof ms === 'number') {
      offsetMs += ms;
      process.send?.({ type: 'advanced', offsetMs });
    }
  },
});
