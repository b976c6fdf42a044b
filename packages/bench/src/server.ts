/**
 * The server side of the hot-path benchmark, run in a child process (pinned to one core by the parent
 * when `taskset` exists). It builds the real resource server (`buildApp`, real database: PGlite in a
 * temporary directory, or PostgreSQL at `DATABASE_URL`) and adds four bench-only routes to the same
 * Fastify instance — never to the app itself:
 *
 * - `GET /bench/plain`   no authentication, `GET /api/whoami`'s reply: the HTTP ceiling of (d);
 * - `GET /bench/ed25519` one raw `node:crypto` Ed25519 verification of the request's own signature;
 * - `GET /bench/peer`    `@hellocoop/httpsig` verification plus `jose` JWT verification;
 * - `GET /bench/notes`   no authentication, the notes read `GET /api/notes` makes for the bench's
 *                        person, through the app's own notes service and store: the ceiling of (d′).
 *
 * The parent passes the stub PS's public keys, the agent's public key and the person in `BENCH_WORLD`
 * and receives the listening port over IPC. Every statement the server sends to its database is
 * counted (`db-count.ts`); the parent asks for the counter over IPC.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { verify as verifyEd25519 } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKeyResolver, DWK, importPublicJwk, systemClock } from '@aauth-ref/core';
import { applyMigrations, openDatabase } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/resource-server/app';
import { loadConfig } from '@aauth-ref/resource-server/config';
import { createNotesService } from '@aauth-ref/resource-server/services/notes-service';
import { createPrismaClient } from '@aauth-ref/resource-server/stores/prisma';
import { createPrismaNoteStore } from '@aauth-ref/resource-server/stores/prisma-notes';
import { verify as verifyHttpSig } from '@hellocoop/httpsig';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { countStatements } from './db-count.js';
import { serveChild } from './serve-child.js';
import { extractSignatureBytes, minimalSignatureBase } from './signature-base.js';
import { readBenchWorld } from './world.js';

const world = readBenchWorld(process.env.BENCH_WORLD);
const databaseUrl = process.env.DATABASE_URL;
const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-rs-'));

// `BENCH_PG_URL` (the scaling profile): a fresh database of its own on that PostgreSQL server, dropped
// at exit — a first sight of a token writes its record, and PGlite's single session would be the limit.
const own = process.env.BENCH_PG_URL
  ? await createTestDatabase({ migrationsDir: MIGRATIONS_DIR, url: process.env.BENCH_PG_URL })
  : undefined;
const opened =
  own?.db ??
  (databaseUrl
    ? await openDatabase({ url: databaseUrl })
    : await openDatabase({ dataDir: join(dataDir, 'db') }));
if (!own) await applyMigrations(opened, MIGRATIONS_DIR);
// Only statements sent on behalf of an HTTP request count, not the background revocation poll: each
// request runs in an async context of its own from `onRequest` on. Only while the parent probes
// (`start` … `stop`): on Node 20 an active AsyncLocalStorage turns on promise hooks, which would tax
// every timed request.
const inRequest = new AsyncLocalStorage<true>();
let countingStatements = false;
const { database, counter: statements } = countStatements(opened, () => inRequest.getStore() === true);
// The app's Prisma client, handed in so that (a′) reads through exactly the store the app uses.
const prisma = createPrismaClient(database);

const config = loadConfig({
  AAUTH_DEV: '1',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  ISSUER: world.resource,
  PERSON_SERVER_TRUST: world.ps,
});
const psKeys = world.psJwks.map((jwk) => importPublicJwk(jwk));
const app = await buildApp(config, {
  database,
  prisma,
  keys: createKeyRing(generateSigningKeysJwks()),
  remoteKeys: createLocalKeyResolver([
    { issuer: world.ps, dwk: DWK.person, keys: psKeys, metadata: { issuer: world.ps } },
  ]),
  logger: false,
});

app.addHook('onRequest', (_request, _reply, done) =>
  countingStatements ? inRequest.run(true, done) : done(),
);

/** The body `GET /api/whoami` answers with, sent by the parent once it has read it; (a), (b) and (c) reply with it. */
let replyBody = '{}';

// (a) The HTTP ceiling of (d): the same reply `GET /api/whoami` gives, without authentication.
app.get('/bench/plain', async (_request, reply) =>
  reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(replyBody),
);

// (b) The cryptographic limit: the agent's key is known in advance, and the only work is assembling
// this request's RFC 9421 signature base and one Ed25519 verification over it.
const agentKey = importPublicJwk(world.agentJwk).keyObject;
const authority = new URL(world.resource).host;
app.get('/bench/ed25519', async (request, reply) => {
  const headers = request.headers;
  const signatureKey = headers['signature-key'];
  const signatureInput = headers['signature-input'];
  const signature = headers.signature;
  if (
    typeof signatureKey !== 'string' ||
    typeof signatureInput !== 'string' ||
    typeof signature !== 'string'
  ) {
    return reply.code(401).send();
  }
  const base = minimalSignatureBase(request.method, authority, request.url, signatureKey, signatureInput);
  if (!verifyEd25519(null, Buffer.from(base, 'utf8'), agentKey, extractSignatureBytes(signature))) {
    return reply.code(401).send();
  }
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(replyBody);
});

// (c) A peer pipeline as an application would assemble it today: the spec author's HTTP signature
// library (which decodes the `jwt` scheme's token for its `cnf.jwk` but does not verify it), then
// `jose` for the auth token itself against the PS's JWKS.
const psJwks = createLocalJWKSet({ keys: world.psJwks as never });
app.get('/bench/peer', async (request, reply) => {
  const query = request.url.indexOf('?');
  const result = await verifyHttpSig({
    method: request.method,
    authority,
    path: query < 0 ? request.url : request.url.slice(0, query),
    ...(query < 0 ? {} : { query: request.url.slice(query + 1) }),
    headers: request.headers as Record<string, string>,
  });
  if (!result.verified || result.jwt === undefined) return reply.code(401).send();
  const { payload } = await jwtVerify(result.jwt.raw, psJwks, {
    issuer: world.ps,
    audience: world.resource,
    typ: 'aa-auth+jwt',
  });
  if (typeof payload.scope !== 'string' || !payload.scope.split(' ').includes('notes.read')) {
    return reply.code(403).send();
  }
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(replyBody);
});

// (a′) The ceiling of (d′): `GET /api/notes`'s application work — the notes of the same person and
// notebook, through the app's notes service and store (the same client, statement and driver) — with
// no authentication and no access decision.
const notes = createNotesService({ store: createPrismaNoteStore(prisma, database), clock: systemClock });
const benchPerson = { iss: world.ps, sub: world.personSub };
app.get('/bench/notes', async (_request, reply) => {
  const list = await notes.list(benchPerson, 'personal');
  return reply.header('cache-control', 'no-store').send({ notebook: 'personal', notes: list });
});

await serveChild(app, {
  release: async () => {
    await prisma.$disconnect().catch(() => undefined);
    await own?.drop();
    await rm(dataDir, { recursive: true, force: true });
  },
  onMessage: ({ type, body, action }) => {
    if (type === 'reply' && typeof body === 'string') replyBody = body;
    if (type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ type: 'cpu', us: user + system });
    }
    if (type === 'statements') {
      if (action === 'start') countingStatements = true;
      process.send?.({ type: 'statements', count: statements.count() });
      if (action === 'stop') {
        countingStatements = false;
        inRequest.disable();
      }
    }
    if (type === 'memory') {
      // `bench:scale` starts this process with --expose-gc: a full collection first, so heapUsed is live data.
      (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.send?.({ type: 'memory', rss, heapUsed });
    }
  },
});
