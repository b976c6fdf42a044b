/**
 * The server side of the hot-path benchmark, run in a child process (pinned to one core by the parent
 * when `taskset` exists). It builds the real resource server (`buildApp`, real database: PGlite in a
 * temporary directory, or PostgreSQL at `DATABASE_URL`) and adds three bench-only routes to the same
 * Fastify instance — never to the app itself:
 *
 * - `GET /bench/plain`   no authentication: the HTTP ceiling for this route's reply;
 * - `GET /bench/ed25519` one raw `node:crypto` Ed25519 verification of the request's own signature;
 * - `GET /bench/peer`    `@hellocoop/httpsig` verification plus `jose` JWT verification.
 *
 * The parent passes the stub PS's public keys and the agent's public key in `BENCH_WORLD` and receives
 * the listening port over IPC.
 */
import { verify as verifyEd25519 } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKeyResolver, DWK, importPublicJwk } from '@aauth-ref/core';
import { applyMigrations, openDatabase } from '@aauth-ref/db';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from '@aauth-ref/resource-server/app';
import { loadConfig } from '@aauth-ref/resource-server/config';
import { verify as verifyHttpSig } from '@hellocoop/httpsig';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { type ProfileSummary, startProfiling } from './profile.js';
import { extractSignatureBytes, minimalSignatureBase } from './signature-base.js';
import { readBenchWorld } from './world.js';

const world = readBenchWorld(process.env.BENCH_WORLD);
const databaseUrl = process.env.DATABASE_URL;
const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-rs-'));

const database = databaseUrl
  ? await openDatabase({ url: databaseUrl })
  : await openDatabase({ dataDir: join(dataDir, 'db') });
await applyMigrations(database, MIGRATIONS_DIR);

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
  keys: createKeyRing(generateSigningKeysJwks()),
  remoteKeys: createLocalKeyResolver([
    { issuer: world.ps, dwk: DWK.person, keys: psKeys, metadata: { issuer: world.ps } },
  ]),
  logger: false,
});

/** The body `GET /api/notes` answers with, sent by the parent once it has read it; every bench route replies with it. */
let replyBody = '{}';

// (a) The HTTP ceiling: the same reply the notes route gives, without authentication.
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

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
process.send?.({ type: 'listening', port: address.port, pid: process.pid });

async function shutdown(): Promise<void> {
  await app.close();
  await rm(dataDir, { recursive: true, force: true });
  process.exit(0);
}
let stopProfile: (() => Promise<ProfileSummary>) | undefined;
process.on('message', (message: unknown) => {
  if (typeof message !== 'object' || message === null) return;
  const { type, body, action } = message as { type?: string; body?: unknown; action?: string };
  if (type === 'reply' && typeof body === 'string') replyBody = body;
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
  if (type === 'memory') {
    // `bench:scale` starts this process with --expose-gc: a full collection first, so heapUsed is live data.
    (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send?.({ type: 'memory', rss, heapUsed });
  }
  if (type === 'stop') void shutdown();
});
process.on('disconnect', () => void shutdown());
