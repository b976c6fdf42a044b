import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalKeyResolver,
  DWK,
  type IssuerKeyResolver,
  type KeyPair,
  type SignatureKeyMember,
} from '@aauth-ref/core';
import type { Database } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import {
  type BuiltSignedRequest,
  buildSignedRequest,
  createFakeClock,
  createTestIssuer,
  type FakeClock,
  injectBuilt,
  makeAgentId,
  makeKeyPair,
  type TestBody,
  type TestIssuer,
} from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type AppDeps, buildApp, MIGRATIONS_DIR } from '../../src/app.js';
import { loadConfig, type ResourceServerConfig } from '../../src/config.js';
import { createPrismaClient, type PrismaClient } from '../../src/stores/prisma.js';

/**
 * The resource under test: dev-mode issuer `http://localhost:3003`, a database of its own, a fake
 * clock, and stub issuers (a PS, a second PS, an Agent Provider, an AS) whose keys reach the resource
 * through a local key resolver — no socket is opened.
 */

export const ISSUER = 'http://localhost:3003';
/** The stub AP's `callback_endpoint` (§Agent Provider Metadata): the only callback its agents may give. */
export const AGENT_CALLBACK = 'https://agent.example/callback';

export interface Issuers {
  readonly ps: TestIssuer;
  readonly ps2: TestIssuer;
  readonly ap: TestIssuer;
  /** An Agent Provider that publishes no `callback_endpoint`. */
  readonly apWithoutCallback: TestIssuer;
  readonly as: TestIssuer;
}

export interface TestApp extends Issuers {
  app: FastifyInstance;
  readonly config: ResourceServerConfig;
  readonly clock: FakeClock;
  readonly database: Database;
  readonly prisma: PrismaClient;
  readonly keys: KeyRing;
  /** The resolver the app reaches the stub issuers through (spy on it to make one unreachable). */
  readonly remoteKeys: IssuerKeyResolver;
  /** Closes the app and builds a new one on the same database, keys and clock (a restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export function createIssuers(): Issuers {
  return {
    ps: createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' }),
    ps2: createTestIssuer({ dwk: DWK.person, issuer: 'https://ps2.example' }),
    ap: createTestIssuer({
      dwk: DWK.agent,
      issuer: 'https://agent.example',
      metadata: { callback_endpoint: AGENT_CALLBACK },
    }),
    apWithoutCallback: createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent2.example' }),
    as: createTestIssuer({ dwk: DWK.access, issuer: 'https://as.example' }),
  };
}

export async function startTestApp(
  env: Record<string, string> = {},
  extraDeps: Pick<AppDeps, 'pendingWait'> & {
    /** Wraps the database the app (and `prisma`) use, e.g. to record statements. */
    wrapDatabase?: (db: Database) => Database;
  } = {},
): Promise<TestApp> {
  const { wrapDatabase, ...appDeps } = extraDeps;
  const created = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  const { drop } = created;
  const db = wrapDatabase === undefined ? created.db : wrapDatabase(created.db);
  const dataDir = await mkdtemp(join(tmpdir(), 'rs-test-'));
  const config = loadConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    // The sweeper reads the fake clock: a test moving it hours ahead must not lose rows mid-file.
    RETENTION_INTERVAL_SECONDS: '0',
    ...env,
  });
  const clock = createFakeClock();
  const prisma = createPrismaClient(db);
  const keys = createKeyRing(generateSigningKeysJwks());
  const issuers = createIssuers();
  const remoteKeys = createLocalKeyResolver([
    issuers.ps,
    issuers.ps2,
    issuers.ap,
    issuers.apWithoutCallback,
    issuers.as,
  ]);
  const build = () =>
    buildApp(config, {
      database: db,
      prisma,
      clock,
      keys,
      remoteKeys,
      logger: false,
      keepDatabaseOpen: true,
      ...appDeps,
    });
  const app = await build();
  const t: TestApp = {
    ...issuers,
    app,
    config,
    clock,
    database: db,
    prisma,
    keys,
    remoteKeys,
    async restart() {
      await t.app.close();
      t.app = await build();
    },
    async close() {
      await t.app.close();
      await prisma.$disconnect();
      await drop();
    },
  };
  return t;
}

// --- Agents and their tokens ------------------------------------------------------------------------

export interface TestAgent {
  readonly key: KeyPair;
  readonly sub: string;
  readonly agentToken: string;
}

/** An agent of the stub AP (or `ap`) whose agent token names `ps` (default the stub PS). */
export function newAgent(
  t: TestApp,
  options: { ps?: string | null; key?: KeyPair; ap?: TestIssuer } = {},
): TestAgent {
  const key = options.key ?? makeKeyPair();
  const ap = options.ap ?? t.ap;
  const sub = makeAgentId(ap);
  const ps = options.ps === undefined ? t.ps.issuer : options.ps;
  const agentToken = ap.issue(
    'agent',
    { sub, cnf: { jwk: key.jwk }, ...(ps === null ? {} : { ps }) } as never,
    { clock: t.clock },
  );
  return { key, sub, agentToken };
}

export interface PersonTokenOptions {
  readonly issuer?: TestIssuer;
  readonly sub?: string;
  readonly aud?: string;
  readonly mission_s256?: string;
  readonly tenant?: string;
  readonly lifetimeSeconds?: number;
  readonly jti?: string;
}

export function personToken(t: TestApp, key: KeyPair, options: PersonTokenOptions = {}): string {
  const issuer = options.issuer ?? t.ps;
  return issuer.issue(
    'person',
    {
      aud: options.aud ?? ISSUER,
      sub: options.sub ?? 'person-alice',
      cnf: { jwk: key.jwk },
      ...(options.mission_s256 === undefined ? {} : { mission_s256: options.mission_s256 }),
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      ...(options.jti === undefined ? {} : { jti: options.jti }),
    } as never,
    { clock: t.clock, lifetimeSeconds: options.lifetimeSeconds ?? 3600 },
  );
}

export interface AuthTokenOptions {
  readonly issuer?: TestIssuer;
  readonly sub?: string;
  readonly aud?: string;
  readonly ps?: string;
  readonly scope?: string;
  readonly account?: string;
  readonly cnfKey?: KeyPair;
  readonly jti?: string;
}

export function authToken(t: TestApp, key: KeyPair, options: AuthTokenOptions = {}): string {
  const issuer = options.issuer ?? t.ps;
  return issuer.issue(
    'auth',
    {
      aud: options.aud ?? ISSUER,
      ps: options.ps ?? (issuer.dwk === DWK.person ? issuer.issuer : t.ps.issuer),
      sub: options.sub ?? 'person-alice',
      cnf: { jwk: (options.cnfKey ?? key).jwk },
      ...(options.scope === undefined ? { scope: 'notes.read notes.write' } : { scope: options.scope }),
      ...(options.account === undefined ? {} : { account: options.account }),
      ...(options.jti === undefined ? {} : { jti: options.jti }),
    } as never,
    { clock: t.clock, lifetimeSeconds: 3600 },
  );
}

// --- Requests -----------------------------------------------------------------------------------------

export interface SendOptions {
  readonly method?: string;
  readonly path: string;
  readonly key: KeyPair;
  /** A JWT (`sig=jwt`) or any Signature-Key member. */
  readonly signatureKey: string | SignatureKeyMember;
  readonly body?: TestBody;
  readonly headers?: Record<string, string>;
  readonly additionalComponents?: readonly string[];
}

export function buildRequest(t: TestApp, options: SendOptions): BuiltSignedRequest {
  return buildSignedRequest({
    method: options.method ?? 'GET',
    path: options.path,
    key: options.key,
    signatureKey: options.signatureKey,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.additionalComponents === undefined
      ? {}
      : { additionalComponents: options.additionalComponents }),
    clock: t.clock,
    issuer: ISSUER,
  });
}

export function send(t: TestApp, options: SendOptions): Promise<LightMyRequestResponse> {
  return injectBuilt(t.app, buildRequest(t, options));
}

export function sendUnsigned(
  t: TestApp,
  options: { method?: string; path: string; body?: Record<string, unknown> },
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: (options.method ?? 'GET') as 'GET',
    url: options.path,
    headers: { host: 'localhost:3003' },
    ...(options.body === undefined ? {} : { payload: options.body }),
  });
}

/** The JWT payload, unverified (the tests verify what they need explicitly). */
export function decodePayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** `resource-token` from `AAuth-Requirement: requirement=auth-token; resource-token="…"`. */
export function resourceTokenOf(response: LightMyRequestResponse): string {
  const header = String(response.headers['aauth-requirement'] ?? '');
  const match = /^requirement=auth-token;resource-token="([^"]+)"$/.exec(header);
  if (!match) throw new Error(`not an auth-token challenge: ${header}`);
  return match[1]!;
}
