import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS_DIR as AS_MIGRATIONS_DIR, buildApp as buildAuthServer } from '@aauth-ref/auth-server/app';
import { loadConfig as loadAuthServerConfig } from '@aauth-ref/auth-server/config';
import { DEMO_USERS, seedDemoUsers } from '@aauth-ref/auth-server/seed-users';
import { type PolicyDocument, parsePolicyDocument } from '@aauth-ref/auth-server/services/policy';
import { createPrismaClient as createAuthServerPrisma } from '@aauth-ref/auth-server/stores/prisma';
import { createPrismaPersonStore as createAsPersonStore } from '@aauth-ref/auth-server/stores/prisma-federation';
import { storePolicyDocument } from '@aauth-ref/auth-server/stores/prisma-policies';
import {
  createGuardedFetch,
  createGuardedPost,
  DEV,
  type GuardedFetch,
  type OutboundFetch,
  R3_VOCABULARY,
} from '@aauth-ref/core';
import type { Queryable } from '@aauth-ref/db';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, hashPassword } from '@aauth-ref/fastify';
import {
  buildApp as buildPersonServer,
  MIGRATIONS_DIR as PS_MIGRATIONS_DIR,
} from '@aauth-ref/person-server/app';
import { loadConfig as loadPersonServerConfig } from '@aauth-ref/person-server/config';
import { DEMO_PERSONS, seedDemoPersons } from '@aauth-ref/person-server/seed';
import { createPrismaClient as createPersonServerPrisma } from '@aauth-ref/person-server/stores/prisma';
import { createPrismaPersonStore } from '@aauth-ref/person-server/stores/prisma-persons';
import {
  buildApp as buildResourceServer,
  MIGRATIONS_DIR as RS_MIGRATIONS_DIR,
} from '@aauth-ref/resource-server/app';
import { loadConfig as loadResourceServerConfig } from '@aauth-ref/resource-server/config';
import type { FakeClock } from '@aauth-ref/testkit';
import type { FastifyInstance } from 'fastify';

/**
 * The local stack for end-to-end tests: each server in-process, listening on a loopback port of its
 * own, in development mode (so `http://127.0.0.1:PORT` identifiers and loopback egress are admitted),
 * with its issuer equal to its listening origin and a database of its own. No key resolver is
 * injected: the servers discover one another's keys over HTTP, as deployed servers do.
 */

/** `E2E_LOG_LEVEL=debug` (or `info`, …) shows the servers' logs while a scenario runs; silent by default. */
const LOG_LEVEL = process.env.E2E_LOG_LEVEL ?? 'silent';

export interface RunningServer {
  readonly app: FastifyInstance;
  /** `http://127.0.0.1:<port>`: the server's issuer and listening origin. */
  readonly issuer: string;
  /** The server's own database, for a scenario to read what it recorded (never to write protocol state). */
  readonly db: Queryable;
  close(): Promise<void>;
}

/** One signed request a server sent on its own (a revocation notice), once it was answered. */
export interface OutboundCall {
  readonly url: string;
  /** `body` as JSON (`{iss, jti}` for a revocation notice). */
  readonly body: unknown;
  /** The answer's status, or `undefined` when it could not be delivered. */
  readonly status: number | undefined;
}

/** The signed requests a server sent on its own, for a test to wait on (they run after the answer). */
export interface OutboundLog {
  readonly calls: readonly OutboundCall[];
  /** Resolves with the first answered call, past or future, that `match` accepts. */
  waitFor(match: (call: OutboundCall) => boolean): Promise<OutboundCall>;
}

/** One PS → AS exchange (§Access Server Federation) as the PS saw it. */
export interface FederationExchange {
  readonly method: string;
  readonly url: string;
  /** The request body as JSON, when it had one. */
  readonly body: unknown;
  readonly status: number;
  /** Response headers, lowercase names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The response body as JSON, when it was JSON. */
  readonly response: unknown;
}

export interface PersonServer extends RunningServer {
  /** Revocation notices the PS sent to resources (§Token Revocation cascade). */
  readonly outbound: OutboundLog;
  /** Every PS → AS request and its answer, in order. */
  readonly federation: readonly FederationExchange[];
}

/** The auth server (Access Server) and its database-held policy. */
export interface AccessServer extends RunningServer {
  /** Validates and stores a policy document (README *Auth server*, *Policy format*), as `POLICY_FILE` does. */
  setPolicy(document: PolicyDocument): Promise<void>;
  /** The AS's demo person (its dev seed), who signs in at its interaction pages (binding). */
  readonly carol: { readonly username: string; readonly password: string };
}

/** Environment overrides for one server (each starts from dev mode, silent logs and its own port). */
export interface ServerOptions {
  readonly env?: Readonly<Record<string, string>>;
}

export interface Stack {
  /** The Person Server and, on the same origin, the Agent Provider of the test agents. */
  readonly ps: PersonServer;
  /** The demo notes resource. */
  readonly rs: RunningServer;
  /** The auth server, when the stack was asked for one (`startFourPartyStack`). */
  readonly as?: AccessServer;
  /** The demo person who decides in the browser. */
  readonly alice: { readonly username: string; readonly password: string };
  close(): Promise<void>;
}

export interface FourPartyStack extends Stack {
  readonly as: AccessServer;
}

/**
 * A clock that follows the wall clock and can still be moved: for a stack shared with another process
 * that signs with its own clock (the `aauth` CLI of the demo tour), where a fake clock would drift
 * out of the signature window.
 */
export function createWallClock(): FakeClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
    set(ms) {
      offset = ms - Date.now();
    },
  };
}

/** A port free right now on loopback (an issuer names its port before the server is built). */
async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Builds a server for a free port and listens there; tries another port if it was taken meanwhile. */
async function listenOnFreePort(
  build: (port: number, issuer: string) => Promise<FastifyInstance>,
): Promise<{ app: FastifyInstance; issuer: string }> {
  for (let attempt = 0; ; attempt++) {
    const port = await findFreePort();
    const issuer = `http://127.0.0.1:${port}`;
    const app = await build(port, issuer);
    try {
      await app.listen({ host: '127.0.0.1', port });
      return { app, issuer };
    } catch (err) {
      await app.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 2) throw err;
    }
  }
}

/** Runs `step` and, whatever happens, every cleanup registered so far in reverse order on failure. */
async function withCleanups<T>(
  step: (defer: (cleanup: () => Promise<unknown>) => void) => Promise<T>,
): Promise<{ value: T; cleanup: () => Promise<void> }> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    return { value: await step((fn) => cleanups.push(fn)), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function tempDir(prefix: string, defer: (cleanup: () => Promise<unknown>) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function testDatabase(
  migrationsDir: string,
  defer: (cleanup: () => Promise<unknown>) => void,
): Promise<TestDatabase> {
  const database = await createTestDatabase({ migrationsDir });
  defer(() => database.drop());
  return database;
}

/** Wraps an outbound fetch so a test can see and wait for what was sent. */
function recordOutbound(inner: OutboundFetch): { fetch: OutboundFetch; log: OutboundLog } {
  const calls: OutboundCall[] = [];
  const waiters: { match: (call: OutboundCall) => boolean; resolve: (call: OutboundCall) => void }[] = [];
  const settle = (call: OutboundCall) => {
    calls.push(call);
    for (const waiter of [...waiters]) {
      if (!waiter.match(call)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(call);
    }
  };
  const fetch: OutboundFetch = async (request) => {
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString('utf8'));
    } catch {
      body = undefined;
    }
    try {
      const response = await inner(request);
      settle({ url: request.url, body, status: response.status });
      return response;
    } catch (err) {
      settle({ url: request.url, body, status: undefined });
      throw err;
    }
  };
  const log: OutboundLog = {
    calls,
    waitFor(match) {
      const past = calls.find(match);
      if (past) return Promise.resolve(past);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
  return { fetch, log };
}

function parseJson(bytes: Uint8Array | string | undefined): unknown {
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Wraps the PS's federation fetch so a test sees the PS ↔ AS exchanges. */
function recordFederation(inner: GuardedFetch, exchanges: FederationExchange[]): GuardedFetch {
  return async (url, request) => {
    const response = await inner(url, request);
    const body = request?.body;
    exchanges.push({
      method: request?.method ?? 'GET',
      url,
      body: typeof body === 'string' || body instanceof Uint8Array ? parseJson(body) : undefined,
      status: response.status,
      headers: response.headers,
      response: parseJson(response.body),
    });
    return response;
  };
}

/** The Person Server with its demo persons (alice, bob) seeded. */
export async function startPersonServer(
  clock: FakeClock,
  options: ServerOptions = {},
): Promise<PersonServer> {
  const { value, cleanup } = await withCleanups(async (defer) => {
    const dataDir = await tempDir('e2e-ps-', defer);
    const database = await testDatabase(PS_MIGRATIONS_DIR, defer);
    const prisma = createPersonServerPrisma(database.db);
    defer(() => prisma.$disconnect());
    await seedDemoPersons(createPrismaPersonStore(prisma));
    const psKeys = createKeyRing(generateSigningKeysJwks());
    const apKeys = createKeyRing(generateSigningKeysJwks());
    let outbound: OutboundLog | undefined;
    const federation: FederationExchange[] = [];
    const running = await listenOnFreePort(async (port, issuer) => {
      const config = loadPersonServerConfig({
        AAUTH_DEV: '1',
        LOG_LEVEL: LOG_LEVEL,
        DATA_DIR: dataDir,
        PORT: String(port),
        ISSUER: issuer,
        SEED_DEMO_PERSONS: '0',
        ...options.env,
      });
      // The PS's own default (a POST through its egress policy), recorded.
      const recorded = recordOutbound(createGuardedPost({ policy: config.egressPolicy }));
      outbound = recorded.log;
      return buildPersonServer(config, {
        outboundFetch: recorded.fetch,
        // The PS's own default (guarded, bounded), recorded.
        federationFetch: recordFederation(
          createGuardedFetch({ policy: config.egressPolicy, timeoutMs: 5_000, maxBytes: 64 * 1024 }),
          federation,
        ),
        database: database.db,
        prisma,
        clock,
        psKeys,
        apKeys,
        logger: LOG_LEVEL !== 'silent',
        keepDatabaseOpen: true,
      });
    });
    defer(() => running.app.close());
    if (!outbound) throw new Error('the PS was built without its outbound log');
    return { ...running, db: database.db, outbound, federation };
  });
  return { ...value, close: cleanup };
}

/**
 * The resource's own accounts (resource-managed access signs in with them), as its dev seed creates
 * them (README, *Demo resource server*). `buildApp` does not seed; the stack does.
 */
export const RESOURCE_ACCOUNTS = {
  carol: { username: 'carol', password: 'carol-demo-password', displayName: 'Carol Example' },
  dave: { username: 'dave', password: 'dave-demo-password', displayName: 'Dave Example' },
} as const;

/**
 * The demo notes resource, trusting any Person Server it verifies (`PERSON_SERVER_TRUST=verified`),
 * with its accounts carol and dave.
 * `env` adds its own settings, e.g. `ACCESS_SERVER` and `ACCESS_SERVER_SCOPES` for four-party.
 */
export async function startResourceServer(
  clock: FakeClock,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const { value, cleanup } = await withCleanups(async (defer) => {
    const dataDir = await tempDir('e2e-rs-', defer);
    const database = await testDatabase(RS_MIGRATIONS_DIR, defer);
    for (const user of Object.values(RESOURCE_ACCOUNTS)) {
      await database.db.exec(
        'INSERT INTO resource_user (id, username, password_hash, display_name) VALUES ($1, $2, $3, $4)',
        [randomUUID(), user.username, await hashPassword(user.password), user.displayName],
      );
    }
    const keys = createKeyRing(generateSigningKeysJwks());
    const running = await listenOnFreePort(async (port, issuer) => {
      const config = loadResourceServerConfig({
        AAUTH_DEV: '1',
        LOG_LEVEL: LOG_LEVEL,
        DATA_DIR: dataDir,
        PORT: String(port),
        ISSUER: issuer,
        ...options.env,
      });
      return buildResourceServer(config, {
        database: database.db,
        clock,
        keys,
        logger: LOG_LEVEL !== 'silent',
        keepDatabaseOpen: true,
      });
    });
    defer(() => running.app.close());
    return { ...running, db: database.db };
  });
  return { ...value, close: cleanup };
}

/** The auth server (Access Server) with an empty policy until `setPolicy`. */
export async function startAuthServer(clock: FakeClock, options: ServerOptions = {}): Promise<AccessServer> {
  const { value, cleanup } = await withCleanups(async (defer) => {
    const dataDir = await tempDir('e2e-as-', defer);
    const database = await testDatabase(AS_MIGRATIONS_DIR, defer);
    const prisma = createAuthServerPrisma(database.db);
    defer(() => prisma.$disconnect());
    await seedDemoUsers(createAsPersonStore(prisma));
    const keys = createKeyRing(generateSigningKeysJwks());
    const running = await listenOnFreePort(async (port, issuer) => {
      const config = loadAuthServerConfig({
        AAUTH_DEV: '1',
        LOG_LEVEL: LOG_LEVEL,
        DATA_DIR: dataDir,
        PORT: String(port),
        ISSUER: issuer,
        SEED_DEMO_USERS: '0',
        ...options.env,
      });
      return buildAuthServer(config, {
        database: database.db,
        prisma,
        clock,
        keys,
        logger: LOG_LEVEL !== 'silent',
        keepDatabaseOpen: true,
      });
    });
    defer(() => running.app.close());
    return {
      ...running,
      db: database.db,
      carol: demoCarol(),
      async setPolicy(document: PolicyDocument) {
        await storePolicyDocument(prisma, parsePolicyDocument(document, DEV));
      },
    };
  });
  return { ...value, close: cleanup };
}

export interface StackOptions {
  readonly ps?: ServerOptions;
  readonly rs?: ServerOptions;
}

export interface FourPartyStackOptions extends StackOptions {
  readonly as?: ServerOptions;
  /** Scopes the resource delegates to the auth server (`ACCESS_SERVER_SCOPES`); default: all. */
  readonly accessServerScopes?: readonly string[];
  /** The auth server's first policy; default: `defaultFourPartyPolicy`. */
  readonly policy?: (ids: { ps: string; rs: string; as: string }) => PolicyDocument;
}

/**
 * The e2e default policy at the auth server: the stack's PS is pre-established (trust list);
 * `notes.read` is granted to a trusted PS as it is, `notes.write` only once the PS has released an
 * `email` ending in `@example.com` (§Claims Required); anything else is omitted. The `r3` rules
 * mirror them for the resource's R3 documents (R3 §AS Processing; the scope rules still decide the
 * scopes the resource token carries next to them): reads and creates granted, deletes per call.
 * `infra/compose/as-policy.json` holds the same rules.
 */
export function defaultFourPartyPolicy(ids: { ps: string; rs: string }): PolicyDocument {
  return {
    trusted_person_servers: [ids.ps],
    resources: {
      [ids.rs]: {
        fallback: 'omit',
        rules: [
          { id: 'read-trusted-ps', scopes: ['notes.read'], when: { ps_trusted: true }, effect: 'grant' },
          {
            id: 'write-by-email',
            scopes: ['notes.write'],
            when: { ps_trusted: true, claims: { email: { suffix: '@example.com' } } },
            effect: 'grant',
          },
        ],
        r3: {
          fallback: 'omit',
          operations: [
            { vocabulary: R3_VOCABULARY.openapi, match: { operationId: 'listNotes' }, effect: 'grant' },
            { vocabulary: R3_VOCABULARY.openapi, match: { operationId: 'createNote' }, effect: 'grant' },
            { vocabulary: R3_VOCABULARY.openapi, match: { operationId: 'deleteNote' }, effect: 'per-call' },
            { vocabulary: R3_VOCABULARY.mcp, match: { tool: 'list_notes' }, effect: 'grant' },
            { vocabulary: R3_VOCABULARY.mcp, match: { tool: 'create_note' }, effect: 'grant' },
            { vocabulary: R3_VOCABULARY.mcp, match: { tool: 'delete_note' }, effect: 'per-call' },
          ],
        },
      },
    },
  };
}

/** Starts what `start` builds for each entry, closing the others when one fails. */
async function startAll<T extends Record<string, Promise<RunningServer>>>(
  starts: T,
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  const names = Object.keys(starts) as (keyof T)[];
  const settled = await Promise.allSettled(names.map((name) => starts[name]!));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const s of settled) if (s.status === 'fulfilled') await s.value.close();
    throw failed.reason;
  }
  return Object.fromEntries(
    names.map((name, i) => [name, (settled[i] as PromiseFulfilledResult<RunningServer>).value]),
  ) as { [K in keyof T]: Awaited<T[K]> };
}

/** The demo person carol as the auth server seeds her. */
function demoCarol(): AccessServer['carol'] {
  const carol = DEMO_USERS.find((user) => !user.isAdmin);
  if (!carol) throw new Error('the auth server seeds no demo person');
  return { username: carol.username, password: carol.password };
}

/** The demo person alice as the PS seeds her. */
export function demoAlice(): Stack['alice'] {
  const alice = DEMO_PERSONS[0];
  if (!alice) throw new Error('the PS seeds no demo person');
  return { username: alice.username, password: alice.password };
}

/** PS and resource, started together on one clock. */
export async function startStack(clock: FakeClock, options: StackOptions = {}): Promise<Stack> {
  const { ps, rs } = await startAll({
    ps: startPersonServer(clock, options.ps),
    rs: startResourceServer(clock, options.rs),
  });
  return {
    ps,
    rs,
    alice: demoAlice(),
    async close() {
      await Promise.all([ps.close(), rs.close()]);
    },
  };
}

/**
 * PS, auth server and resource on one clock (four-party, §Access Server Federation): the resource's
 * `ACCESS_SERVER` is the auth server, so its resource tokens for the delegated scopes name the AS
 * as `aud`, and it trusts the AS's auth tokens; the AS's policy trusts the PS.
 */
export async function startFourPartyStack(
  clock: FakeClock,
  options: FourPartyStackOptions = {},
): Promise<FourPartyStack> {
  const { ps, as } = await startAll({
    ps: startPersonServer(clock, options.ps),
    as: startAuthServer(clock, options.as),
  });
  let rs: RunningServer | undefined;
  try {
    rs = await startResourceServer(clock, {
      env: {
        ACCESS_SERVER: as.issuer,
        ...(options.accessServerScopes ? { ACCESS_SERVER_SCOPES: options.accessServerScopes.join(' ') } : {}),
        ...options.rs?.env,
      },
    });
    const ids = { ps: ps.issuer, rs: rs.issuer, as: as.issuer };
    await as.setPolicy((options.policy ?? defaultFourPartyPolicy)(ids));
  } catch (err) {
    await Promise.all([ps.close(), as.close(), rs?.close()]);
    throw err;
  }
  const started = rs;
  return {
    ps,
    rs: started,
    as,
    alice: demoAlice(),
    async close() {
      await Promise.all([ps.close(), started.close(), as.close()]);
    },
  };
}
