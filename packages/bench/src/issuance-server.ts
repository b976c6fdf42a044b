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
 */
import { sign, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalKeyResolver,
  DEV,
  DWK,
  importPrivateJwk,
  importPublicJwk,
  type KeyPair,
  parseAAuthRequirement,
  signRequest,
  systemClock,
} from '@aauth-ref/core';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/person-server/app';
import { loadConfig } from '@aauth-ref/person-server/config';
import { seedDemoPersons } from '@aauth-ref/person-server/seed';
import { createPrismaClient } from '@aauth-ref/person-server/stores/prisma';
import { createPrismaPersonStore } from '@aauth-ref/person-server/stores/prisma-persons';
import { createTestIssuer } from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type ProfileSummary, startProfiling } from './profile.js';
import { explainHotQueries, seedMissionS256, seedScale } from './scale-seed.js';

/** What the parent (load generator) sends: identifiers, the agent's key and token, the AP's public keys. */
export interface IssuanceWorld {
  readonly ps: string;
  readonly resource: string;
  readonly ap: { readonly issuer: string; readonly jwks: readonly Record<string, unknown>[] };
  readonly agent: { readonly privateJwk: Record<string, unknown>; readonly token: string };
  readonly scope: string;
}

/** The node:crypto costs the bound is made of, µs per operation, measured on this core. */
export interface CryptoCosts {
  readonly verifyUs: number;
  readonly signUs: number;
}

const world = JSON.parse(process.env.BENCH_WORLD ?? '') as IssuanceWorld;
const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-ps-'));
const { db, drop, url } = await createTestDatabase({
  migrationsDir: MIGRATIONS_DIR,
  ...(process.env.BENCH_PG_URL ? { url: process.env.BENCH_PG_URL } : {}),
});
const prisma = createPrismaClient(db);
await seedDemoPersons(createPrismaPersonStore(prisma));

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
if ((seedCounts.personTokens > 0 || seedCounts.missions > 0) && url) {
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
});
const resource = createTestIssuer({ dwk: DWK.resource, issuer: world.resource });
const psKeys = createKeyRing(generateSigningKeysJwks());
const app: FastifyInstance = await buildApp(config, {
  database: db,
  prisma,
  psKeys,
  apKeys: createKeyRing(generateSigningKeysJwks()),
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

// --- The consent flows, once -------------------------------------------------------------------------

const agentKey: KeyPair = importPrivateJwk(world.agent.privateJwk);
const authority = new URL(world.ps).host;

function signed(method: string, path: string, body?: Record<string, unknown>) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const base: Record<string, string> = payload ? { 'content-type': 'application/json' } : {};
  const headers = signRequest(
    { method, url: `${world.ps}${path}`, headers: base, ...(payload ? { body: payload } : {}) },
    { key: agentKey, signatureKey: { scheme: 'jwt', jwt: world.agent.token }, clock: systemClock },
  );
  return app.inject({
    method: method as 'GET',
    url: path,
    headers: { host: authority, ...base, ...headers },
    ...(payload ? { payload } : {}),
  });
}

/** A browser at the PS: cookies and the CSRF field of the last page. */
const cookies = new Map<string, string>();
let lastBody = '';
function keep(response: LightMyRequestResponse): LightMyRequestResponse {
  const set = response.headers['set-cookie'];
  for (const line of Array.isArray(set) ? set : set ? [set] : []) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    if (pair!.slice(eq + 1) === '') cookies.delete(pair!.slice(0, eq));
    else cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
  }
  lastBody = response.body;
  return response;
}
const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(lastBody)?.[1];
async function browse(method: 'GET' | 'POST', url: string, form?: Record<string, string>) {
  return keep(
    await app.inject({
      method,
      url,
      headers: {
        host: authority,
        cookie: cookieHeader(),
        ...(form ? { origin: world.ps, 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { payload: new URLSearchParams(form).toString() } : {}),
    }),
  );
}

/** 202 → alice approves the interaction → the poll's answer. */
async function consentAndPoll(pending: LightMyRequestResponse): Promise<Record<string, unknown>> {
  if (pending.statusCode !== 202) throw new Error(`expected 202, got ${pending.statusCode} ${pending.body}`);
  const { code } = parseAAuthRequirement(String(pending.headers['aauth-requirement']), DEV) as {
    code: string;
  };
  if (cookies.size === 0) {
    await browse('GET', '/signin');
    await browse('POST', '/signin', {
      _csrf: field('_csrf') ?? '',
      username: 'alice',
      password: 'alice-demo-password',
      return_to: '/dashboard',
    });
  }
  await browse('GET', `/interaction?code=${code}`);
  const step = field('step');
  const decided = await browse('POST', '/interaction', {
    _csrf: field('_csrf') ?? '',
    request: field('request') ?? '',
    decision: 'approve',
    ...(step ? { step } : {}),
  });
  if (decided.statusCode !== 200) throw new Error(`consent: ${decided.statusCode}`);
  const path = new URL(String(pending.headers.location)).pathname;
  await new Promise((resolve) => setTimeout(resolve, Number(pending.headers['retry-after'] ?? 1) * 1000));
  const answer = await signed('GET', path);
  if (answer.statusCode !== 200) throw new Error(`poll: ${answer.statusCode} ${answer.body}`);
  return answer.json();
}

const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, string>;

const personToken = String(
  (
    await consentAndPoll(
      await signed('POST', '/person', { resource: world.resource, capabilities: ['interaction'] }),
    )
  ).person_token,
);
const person = claimsOf(personToken);
const resourceToken = resource.issue(
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
  await signed('POST', '/token', { resource_token: resourceToken, capabilities: ['interaction'] }),
);
for (const [path, body] of [
  ['/person', { resource: world.resource }],
  ['/token', { resource_token: resourceToken }],
] as const) {
  const again = await signed('POST', path, body);
  if (again.statusCode !== 200) throw new Error(`${path} after consent: ${again.statusCode} ${again.body}`);
}

// --- The node:crypto bound -----------------------------------------------------------------------------

/** µs per Ed25519 verification and per signing with the PS's own key type, over a token-sized message. */
function measureCrypto(iterations = 3000): CryptoCosts {
  const message = Buffer.from(resourceToken.slice(0, resourceToken.lastIndexOf('.')), 'utf8');
  const { privateKey, keyObject: publicKey } = psKeys.active;
  const signature = sign(null, message, privateKey);
  for (let i = 0; i < 200; i++) verify(null, message, publicKey, signature);
  let started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) verify(null, message, publicKey, signature);
  const verifyUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
  started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sign(null, message, privateKey);
  const signUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
  return { verifyUs, signUs };
}

// --- Serve -----------------------------------------------------------------------------------------------

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
process.send?.({ type: 'listening', port: address.port, resourceToken, agentMission, seedSeconds });

let stopProfile: (() => Promise<ProfileSummary>) | undefined;
let closing: Promise<void> | undefined;
function shutdown(): Promise<void> {
  closing ??= (async () => {
    await app.close();
    await prisma.$disconnect();
    await drop();
    await rm(dataDir, { recursive: true, force: true });
    process.exit(0);
  })();
  return closing;
}
process.on('message', (message: unknown) => {
  const { type, action } = (message ?? {}) as { type?: string; action?: string };
  if (type === 'crypto') process.send?.({ type: 'crypto', costs: measureCrypto() });
  if (type === 'explain' && url) {
    void explainHotQueries(url, {
      agentIss: world.ap.issuer,
      agentSub: agentClaims.sub,
      resource: world.resource,
      personId: personIds[0]!,
      missionS256: agentMission,
    }).then((plans) => process.send?.({ type: 'explain', plans }));
  }
  if (type === 'profile' && action === 'start') {
    void startProfiling().then((stop) => {
      stopProfile = stop;
      process.send?.({ type: 'profile', started: true });
    });
  }
  if (type === 'profile' && action === 'stop' && stopProfile) {
    const stop = stopProfile;
    stopProfile = undefined;
    void stop().then((summary) => process.send?.({ type: 'profile', summary }));
  }
  if (type === 'stop') void shutdown();
});
process.on('disconnect', () => void shutdown());
