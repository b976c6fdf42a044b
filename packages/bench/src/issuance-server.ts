/**
 * The server side of the issuance benchmark, run in a child process (pinned to one core by the parent
 * when `taskset` exists). It builds the real Person Server (`buildApp`, its own migrated database:
 * PostgreSQL when the parent passes `BENCH_PG_URL`, else in-memory PGlite; demo persons seeded) and,
 * before listening, walks the agent through the real consent flows once through `inject`:
 *
 * 1. `POST /person` for the resource → 202; alice signs in and approves; the poll answers the person token;
 * 2. a resource token naming that person token (minted here with the stub resource's key) →
 *    `POST /token` → 202; alice approves the scope; the poll answers the auth token.
 *
 * From then on the agent is bound and consented, so both endpoints answer `200` at once — which is
 * what the parent measures. IPC: `listening` (port, resource token), `profile` start/stop (inspector
 * CPU profile summary of this process), `crypto` (the node:crypto costs of the request's bound,
 * measured here, on the server's core), `stop`.
 *
 * Two more settings serve the scaling profile: `BENCH_PS_ENV` (JSON: extra configuration, e.g. a short
 * retention interval) and `BENCH_JOIN_DATABASE_URL` — a second instance on the database a first one
 * made and walked the flows on: it opens that database as it is (no seeding, no flows, no drop) and
 * signs with the keys in `BENCH_PS_KEYS` (JSON, the PS and AP signing JWKS), the same as the first's.
 * `listening` also reports the database's URL, so the parent can count rows and start a second instance.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKeyResolver, DWK, importPrivateJwk, importPublicJwk, systemClock } from '@aauth-ref/core';
import { openDatabase } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/person-server/app';
import { loadConfig } from '@aauth-ref/person-server/config';
import { seedDemoPersons } from '@aauth-ref/person-server/seed';
import { createPrismaClient } from '@aauth-ref/person-server/stores/prisma';
import { createPrismaPersonStore } from '@aauth-ref/person-server/stores/prisma-persons';
import { createTestIssuer } from '@aauth-ref/testkit';
import type { FastifyInstance } from 'fastify';
import { measureCryptoCosts } from './crypto-cost.js';
import { createPsAgent, createPsBrowser, pendingOf, type Send } from './ps-browser.js';
import { explainHotQueries, seedMissionS256, seedScale } from './scale-seed.js';
import { serveChild } from './serve-child.js';

/** What the parent (load generator) sends: identifiers, the agent's key and token, the AP's public keys. */
export interface IssuanceWorld {
  readonly ps: string;
  readonly resource: string;
  readonly ap: { readonly issuer: string; readonly jwks: readonly Record<string, unknown>[] };
  readonly agent: { readonly privateJwk: Record<string, unknown>; readonly token: string };
  readonly scope: string;
}

const world = JSON.parse(process.env.BENCH_WORLD ?? '') as IssuanceWorld;
const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-ps-'));
const joining = process.env.BENCH_JOIN_DATABASE_URL || undefined;
const { db, drop, url } = joining
  ? await (async () => {
      const opened = await openDatabase({ url: joining, poolSize: 4 });
      return { db: opened, drop: () => opened.close(), url: joining };
    })()
  : await createTestDatabase({
      migrationsDir: MIGRATIONS_DIR,
      ...(process.env.BENCH_PG_URL ? { url: process.env.BENCH_PG_URL } : {}),
    });
const prisma = createPrismaClient(db);
if (!joining) await seedDemoPersons(createPrismaPersonStore(prisma));

// --- The scaling profile (`bench:scale`): seeded rows and one mission of the agent's own ------------------

const agentClaims = JSON.parse(
  Buffer.from(world.agent.token.split('.')[1]!, 'base64url').toString('utf8'),
) as { sub: string };
const personIds = (await prisma.person.findMany({ select: { id: true }, orderBy: { username: 'asc' } })).map(
  (p) => p.id,
);
const seedCounts = {
  personTokens: Number(process.env.BENCH_SEED_PERSON_TOKENS ?? 0),
  missions: Number(process.env.BENCH_SEED_MISSIONS ?? 0),
};
let seedSeconds: { personTokensS: number; missionsS: number } | undefined;
if (!joining && (seedCounts.personTokens > 0 || seedCounts.missions > 0) && url) {
  seedSeconds = await seedScale(url, {
    ...seedCounts,
    ps: world.ps,
    agentIss: world.ap.issuer,
    personIds,
    resource: world.resource,
  });
}
/** An active mission owned by the benchmark agent, for `POST /mission/{s256}` updates. */
const agentMission = seedMissionS256(-1);
if (!joining)
  await prisma.mission.create({
    data: {
      s256: agentMission,
      blob: Buffer.from('{"description":"bench mission"}'),
      agentIss: world.ap.issuer,
      agentSub: agentClaims.sub,
      personId: personIds[0]!,
      status: 'active',
      approvedAt: new Date(),
      description: 'bench mission',
    },
  });
const config = loadConfig({
  AAUTH_DEV: '1',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  ISSUER: world.ps,
  SEED_DEMO_PERSONS: '0',
  ...(JSON.parse(process.env.BENCH_PS_ENV || '{}') as Record<string, string>),
});
const resource = createTestIssuer({ dwk: DWK.resource, issuer: world.resource });
const signingKeys = process.env.BENCH_PS_KEYS
  ? (JSON.parse(process.env.BENCH_PS_KEYS) as { ps: unknown; ap: unknown })
  : { ps: generateSigningKeysJwks(), ap: generateSigningKeysJwks() };
const psKeys = createKeyRing(signingKeys.ps as never);
const app: FastifyInstance = await buildApp(config, {
  database: db,
  prisma,
  psKeys,
  apKeys: createKeyRing(signingKeys.ap as never),
  remoteKeys: createLocalKeyResolver([
    {
      issuer: world.ap.issuer,
      dwk: DWK.agent,
      keys: world.ap.jwks.map((jwk) => importPublicJwk(jwk)),
      metadata: { issuer: world.ap.issuer, jwks_uri: `${world.ap.issuer}/jwks.json` },
    },
    resource,
  ]),
  logger: false,
  keepDatabaseOpen: true,
});

// --- The consent flows, once (not on a second instance: the first walked them on this database) -------

const agentKey = importPrivateJwk(world.agent.privateJwk);
const inject: Send = async ({ method, path, headers, payload }) => {
  const reply = await app.inject({ method, url: path, headers, ...(payload ? { payload } : {}) });
  return { status: reply.statusCode, headers: reply.headers, body: reply.body };
};
const signed = createPsAgent(world.ps, { key: agentKey, jwt: world.agent.token });
const alice = createPsBrowser(world.ps, 'alice', 'alice-demo-password');

/** 202 → alice approves the interaction → the poll's answer. */
async function consentAndPoll(pending: Awaited<ReturnType<Send>>): Promise<Record<string, unknown>> {
  const { path, code, retryAfterS } = pendingOf(pending);
  const decided = await alice.approve(inject, code);
  if (decided !== 200) throw new Error(`consent: ${decided}`);
  await new Promise((resolve) => setTimeout(resolve, retryAfterS * 1000));
  const answer = await signed(inject, 'GET', path);
  if (answer.status !== 200) throw new Error(`poll: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as Record<string, unknown>;
}

const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, string>;

let resourceToken = '';
if (!joining) {
  const personToken = String(
    (
      await consentAndPoll(
        await signed(inject, 'POST', '/person', { resource: world.resource, capabilities: ['interaction'] }),
      )
    ).person_token,
  );
  const person = claimsOf(personToken);
  resourceToken = resource.issue(
    'resource',
    {
      aud: world.ps,
      ps: world.ps,
      sub: person.sub!,
      presented_jti: person.jti!,
      agent_jkt: agentKey.thumbprint,
      scope: world.scope,
    } as never,
    { clock: systemClock, lifetimeSeconds: 3600 },
  );
  await consentAndPoll(
    await signed(inject, 'POST', '/token', { resource_token: resourceToken, capabilities: ['interaction'] }),
  );
  for (const [path, body] of [
    ['/person', { resource: world.resource }],
    ['/token', { resource_token: resourceToken }],
  ] as const) {
    const again = await signed(inject, 'POST', path, body);
    if (again.status !== 200) throw new Error(`${path} after consent: ${again.status} ${again.body}`);
  }
}

// --- Serve -----------------------------------------------------------------------------------------------

await serveChild(app, {
  listening: { resourceToken, agentMission, seedSeconds, databaseUrl: url },
  release: async () => {
    await prisma.$disconnect();
    await drop();
    await rm(dataDir, { recursive: true, force: true });
  },
  onMessage: ({ type }) => {
    if (type === 'crypto') {
      // Over the resource token's signing input, with the PS's own key type.
      const message = Buffer.from(resourceToken.slice(0, resourceToken.lastIndexOf('.')), 'utf8');
      process.send?.({ type: 'crypto', costs: measureCryptoCosts(psKeys.active, message) });
    }
    if (type === 'explain' && url) {
      void explainHotQueries(url, {
        agentIss: world.ap.issuer,
        agentSub: agentClaims.sub,
        resource: world.resource,
        personId: personIds[0]!,
        missionS256: agentMission,
      }).then((plans) => process.send?.({ type: 'explain', plans }));
    }
  },
});
