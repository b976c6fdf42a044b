import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLocalKeyResolver,
  DiscoveryError,
  DWK,
  type GuardedFetch,
  type IssuerKeyResolver,
  type LocalIssuer,
} from '@aauth-ref/core';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import type { FakeClock } from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * The real auth server (`apps/auth-server`), built in-process next to the PS under test: its own
 * database, the PS's fake clock, its policy, demo accounts and a browser for its pages. The PS reaches
 * it through an injected `federationFetch` that calls `app.inject` (no socket). The AS modules are
 * loaded by path at run time: apps never import each other (ARCHITECTURE.md), only this test does.
 */

export const AS_ISSUER = 'http://localhost:3002';

/** A minimal browser over the AS's pages (its own `test/support/browser.ts`). */
export interface AsBrowser {
  get(url: string): Promise<LightMyRequestResponse>;
  post(
    url: string,
    form: Record<string, string>,
    options?: { csrf?: boolean },
  ): Promise<LightMyRequestResponse>;
  signIn(username: string, password: string): Promise<void>;
}

/** The AS's Prisma models the tests read and reset (typed loosely: the client is the AS's). */
interface AsPrisma {
  psBinding: { deleteMany(args?: unknown): Promise<unknown>; count(args?: unknown): Promise<number> };
  billingRelationship: {
    deleteMany(args?: unknown): Promise<unknown>;
    count(args?: unknown): Promise<number>;
  };
  pendingRequest: { findUnique(args: unknown): Promise<Record<string, unknown> | null> };
  $disconnect(): Promise<void>;
}

export interface RealAccessServer {
  readonly app: FastifyInstance;
  readonly keys: KeyRing;
  readonly prisma: AsPrisma;
  /** The AS's own metadata and keys, for the PS's key resolver. */
  readonly issuer: LocalIssuer;
  /** A browser at the AS signed in as `username`. */
  browser(username: string, password: string): Promise<AsBrowser>;
  /** Forgets every PS binding and billing relationship (each test starts without trust). */
  resetTrust(): Promise<void>;
  close(): Promise<void>;
}

const AS_ROOT = fileURLToPath(new URL('../../../auth-server/', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: the AS's modules are loaded by path, untyped here.
async function load(path: string): Promise<any> {
  return import(/* @vite-ignore */ join(AS_ROOT, path));
}

/** The AS's key ring, made before either server so each can know the other's keys. */
export function createAccessServerKeys(): KeyRing {
  return createKeyRing(generateSigningKeysJwks());
}

/** The AS's metadata and published keys, as a local issuer for the PS's resolver. */
export async function accessServerIssuer(keys: KeyRing): Promise<LocalIssuer> {
  const { buildAccessServerMetadata } = await load('src/metadata.ts');
  return {
    issuer: AS_ISSUER,
    dwk: DWK.access,
    keys: keys.published,
    metadata: buildAccessServerMetadata(AS_ISSUER),
  };
}

export async function startAccessServer(options: {
  readonly keys: KeyRing;
  readonly clock: FakeClock;
  /** Issuers the AS knows (the PS, the agents' AP, the resource). */
  readonly peers: readonly LocalIssuer[];
  readonly policy: unknown;
}): Promise<RealAccessServer> {
  const [
    { buildApp, MIGRATIONS_DIR },
    { loadConfig },
    prismaModule,
    policies,
    users,
    federation,
    browserModule,
  ] = await Promise.all([
    load('src/app.ts'),
    load('src/config.ts'),
    load('src/stores/prisma.ts'),
    load('src/stores/prisma-policies.ts'),
    load('src/seed-users.ts'),
    load('src/stores/prisma-federation.ts'),
    load('test/support/browser.ts'),
  ]);
  const { db, drop } = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  const dataDir = await mkdtemp(join(tmpdir(), 'as-fed-test-'));
  const config = loadConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    PENDING_TTL_SECONDS: '600',
  });
  const prisma = prismaModule.createPrismaClient(db) as AsPrisma;
  await policies.storePolicyDocument(prisma, options.policy);
  await users.seedDemoUsers(federation.createPrismaPersonStore(prisma));
  const local = createLocalKeyResolver(options.peers);
  const remoteKeys: IssuerKeyResolver = {
    resolveKey: (...args) => local.resolveKey(...args),
    metadata: async (...args) => {
      try {
        return await local.metadata(...args);
      } catch {
        throw new DiscoveryError('network', 'offline test resolver');
      }
    },
  };
  const app: FastifyInstance = await buildApp(config, {
    database: db,
    prisma,
    clock: options.clock,
    keys: options.keys,
    remoteKeys,
    logger: false,
    keepDatabaseOpen: true,
  });
  return {
    app,
    keys: options.keys,
    prisma,
    issuer: await accessServerIssuer(options.keys),
    async browser(username, password) {
      const browser = browserModule.createBrowser(app) as AsBrowser;
      await browser.signIn(username, password);
      return browser;
    },
    async resetTrust() {
      await prisma.psBinding.deleteMany({});
      await prisma.billingRelationship.deleteMany({});
    },
    async close() {
      await app.close();
      await prisma.$disconnect();
      await drop();
    },
  };
}

/** The PS's `federationFetch` to the in-process AS (`app.inject`), refusing any other origin. */
export function fetchThrough(target: () => FastifyInstance, origin = AS_ISSUER): GuardedFetch {
  return async (url, request) => {
    const parsed = new URL(url);
    if (parsed.origin !== origin) throw new DiscoveryError('egress', 'only the access server is reachable');
    const res = await target().inject({
      method: (request?.method ?? 'GET') as 'GET',
      url: parsed.pathname + parsed.search,
      headers: { ...request?.headers },
      ...(request?.body ? { payload: Buffer.from(request.body) } : {}),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined)
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { status: res.statusCode, headers, body: res.rawPayload, url };
  };
}
