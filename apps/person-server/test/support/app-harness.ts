import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DiscoveryError,
  type GuardedFetch,
  generateKeyPair,
  type IssuerKeyResolver,
  issueJktJwt,
  type KeyPair,
  type OutboundFetch,
} from '@aauth-ref/core';
import type { Database } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import { buildSignedRequest, createFakeClock, type FakeClock, injectBuilt } from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, MIGRATIONS_DIR } from '../../src/app.js';
import { loadConfig, type PersonServerConfig } from '../../src/config.js';
import { seedDemoPersons } from '../../src/seed.js';
import { createPrismaClient, type PrismaClient } from '../../src/stores/prisma.js';
import { createPrismaPersonStore } from '../../src/stores/prisma-persons.js';

/** The PS under test: dev-mode issuer, a database of its own, fake clock, no network. */

export const ISSUER = 'http://localhost:3001';

export interface TestApp {
  app: FastifyInstance;
  readonly config: PersonServerConfig;
  readonly clock: FakeClock;
  readonly database: Database;
  readonly prisma: PrismaClient;
  readonly psKeys: KeyRing;
  readonly apKeys: KeyRing;
  /** Closes the app and builds it again on the same database (a restart). */
  restart(): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** Other issuers are unknown here: tests never reach the network. */
export const offlineKeys: IssuerKeyResolver = {
  resolveKey: async () => {
    throw new DiscoveryError('unknown_key', 'offline test resolver');
  },
  metadata: async () => {
    throw new DiscoveryError('network', 'offline test resolver');
  },
};

export interface TestAppOptions {
  remoteKeys?: IssuerKeyResolver;
  /** Observes the PS's own outbound requests (revocation notices) instead of sending them. */
  outboundFetch?: OutboundFetch;
  /** PS → AS requests (§Access Server Federation): a stub AS instead of the network. */
  federationFetch?: GuardedFetch;
  /** R3 document fetches: a stub resource instead of the network. */
  r3Fetch?: GuardedFetch;
  /** Extra configuration variables. */
  env?: Record<string, string>;
  /** Wraps the test database before the PS uses it (e.g. `recordQueries` of `@aauth-ref/testkit`). */
  wrapDatabase?: (db: Database) => Database;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const created = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  const { drop } = created;
  const db = options.wrapDatabase ? options.wrapDatabase(created.db) : created.db;
  const dataDir = await mkdtemp(join(tmpdir(), 'ps-test-'));
  const config = loadConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    SEED_DEMO_PERSONS: '0',
    // The sweeper reads the fake clock: a test moving it hours ahead must not lose rows mid-file.
    RETENTION_INTERVAL_SECONDS: '0',
    ...options.env,
  });
  const clock = createFakeClock();
  const prisma = createPrismaClient(db);
  await seedDemoPersons(createPrismaPersonStore(prisma));
  const psKeys = createKeyRing(generateSigningKeysJwks());
  const apKeys = createKeyRing(generateSigningKeysJwks());
  const build = () =>
    buildApp(config, {
      database: db,
      prisma,
      clock,
      psKeys,
      apKeys,
      remoteKeys: options.remoteKeys ?? offlineKeys,
      logger: false,
      keepDatabaseOpen: true,
      pendingSleep: async () => undefined,
      ...(options.outboundFetch ? { outboundFetch: options.outboundFetch } : {}),
      ...(options.federationFetch ? { federationFetch: options.federationFetch } : {}),
      ...(options.r3Fetch ? { r3Fetch: options.r3Fetch } : {}),
    });
  const harness: TestApp = {
    app: await build(),
    config,
    clock,
    database: db,
    prisma,
    psKeys,
    apKeys,
    async restart() {
      await harness.app.close();
      harness.app = await build();
      return harness.app;
    },
    async close() {
      await harness.app.close();
      await prisma.$disconnect();
      await drop();
    },
  };
  return harness;
}

// --- Signed requests ---------------------------------------------------------------------------------

export function hwkMember(key: KeyPair) {
  const { kid: _kid, ...jwk } = key.jwk;
  return { scheme: 'hwk' as const, jwk: jwk as Record<string, string> };
}

export function sendSigned(
  t: TestApp,
  options: {
    method: string;
    path: string;
    key: KeyPair;
    signatureKey: Parameters<typeof buildSignedRequest>[0]['signatureKey'];
    body?: Record<string, unknown>;
    headers?: Record<string, string>;
  },
): Promise<LightMyRequestResponse> {
  return injectBuilt(t.app, buildSignedRequest({ ...options, clock: t.clock, issuer: ISSUER }));
}

/** `jkt-jwt`: the durable key names a fresh ephemeral key, which signs the request. */
export function jktJwtMember(t: TestApp, durable: KeyPair, ephemeral: KeyPair) {
  return {
    scheme: 'jkt-jwt' as const,
    jwt: issueJktJwt(durable, ephemeral.jwk, { clock: t.clock, lifetimeSeconds: 300 }),
  };
}

export function newKey(): KeyPair {
  return generateKeyPair('Ed25519');
}

// --- Browser -----------------------------------------------------------------------------------------

/** A browser: keeps cookies, reads the CSRF field of the last page. */
export class Browser {
  readonly cookies = new Map<string, string>();
  lastBody = '';

  constructor(private readonly t: TestApp) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(response: LightMyRequestResponse): LightMyRequestResponse {
    const set = response.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    this.lastBody = response.body;
    return response;
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.t.app.inject({
        method: 'GET',
        url,
        headers: { host: 'localhost:3001', cookie: this.cookieHeader() },
      }),
    );
  }

  csrf(): string {
    const match = /name="_csrf" value="([^"]+)"/.exec(this.lastBody);
    if (!match) throw new Error('no CSRF field on the last page');
    return match[1]!;
  }

  async post(url: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.t.app.inject({
        method: 'POST',
        url,
        headers: {
          host: 'localhost:3001',
          origin: ISSUER,
          cookie: this.cookieHeader(),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: new URLSearchParams(fields).toString(),
      }),
    );
  }

  /** A form with repeated fields (checkbox groups). */
  async postPairs(
    url: string,
    pairs: readonly (readonly [string, string])[],
  ): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.t.app.inject({
        method: 'POST',
        url,
        headers: {
          host: 'localhost:3001',
          origin: ISSUER,
          cookie: this.cookieHeader(),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v])).toString(),
      }),
    );
  }

  async signIn(username: string, password: string): Promise<LightMyRequestResponse> {
    await this.get('/signin');
    return this.post('/signin', { _csrf: this.csrf(), username, password, return_to: '/dashboard' });
  }
}

export const ALICE = { username: 'alice', password: 'alice-demo-password' };
export const BOB = { username: 'bob', password: 'bob-demo-password' };
