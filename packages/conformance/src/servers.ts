import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCompositeKeyResolver,
  createLocalKeyResolver,
  DiscoveryError,
  DWK,
  type IssuerKeyResolver,
  type OutboundFetch,
} from '@aauth-ref/core';
import type { Database } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import { buildApp as buildPersonServer, MIGRATIONS_DIR as PS_MIGRATIONS } from '@aauth-ref/person-server/app';
import { loadConfig as loadPersonServerConfig } from '@aauth-ref/person-server/config';
import { seedDemoPersons } from '@aauth-ref/person-server/seed';
import { createPrismaClient as createPsPrisma } from '@aauth-ref/person-server/stores/prisma';
import { createPrismaPersonStore } from '@aauth-ref/person-server/stores/prisma-persons';
import {
  buildApp as buildResourceServer,
  MIGRATIONS_DIR as RS_MIGRATIONS,
} from '@aauth-ref/resource-server/app';
import { loadConfig as loadResourceServerConfig } from '@aauth-ref/resource-server/config';
import { createFakeClock, createTestIssuer, type FakeClock, type TestIssuer } from '@aauth-ref/testkit';
import type { FastifyInstance } from 'fastify';
// The auth server's entry points by path: its package `exports` (./app, ./config, ./stores/…) are newer
// than this suite; switch to `@aauth-ref/auth-server/app` etc. once they are committed.
import {
  MIGRATIONS_DIR as AS_MIGRATIONS,
  buildApp as buildAuthServer,
} from '../../../apps/auth-server/src/app.js';
import { loadConfig as loadAuthServerConfig } from '../../../apps/auth-server/src/config.js';
import type { PolicyDocument } from '../../../apps/auth-server/src/services/policy.js';
import { createPrismaClient as createAsPrisma } from '../../../apps/auth-server/src/stores/prisma.js';
import { storePolicyDocument } from '../../../apps/auth-server/src/stores/prisma-policies.js';

/**
 * The three servers in-process, each on a database of its own (`createTestDatabase`), a fake clock,
 * development-mode identifiers and stub parties whose keys reach the server through a local key
 * resolver — `app.inject` only, no socket is opened.
 */

export const PS_ISSUER = 'http://localhost:3001';
export const AS_ISSUER = 'http://localhost:3002';
export const RS_ISSUER = 'http://localhost:3003';

/** Stub parties every server may be told about. `.example` names never resolve (RFC 2606). */
export interface Parties {
  /** Another Agent Provider, whose agents call the servers. */
  readonly ap: TestIssuer;
  /** A Person Server (for the AS and the resource). */
  readonly ps: TestIssuer;
  /** A second Person Server the servers also know. */
  readonly ps2: TestIssuer;
  /** A resource (for the PS and the AS). */
  readonly resource: TestIssuer;
  /** An Access Server (for the resource). */
  readonly as: TestIssuer;
  /** An Agent Provider nobody knows (its keys are never resolvable). */
  readonly stranger: TestIssuer;
  /** A Person Server nobody knows. */
  readonly strangerPs: TestIssuer;
}

export function createParties(): Parties {
  return {
    ap: createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' }),
    ps: createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' }),
    ps2: createTestIssuer({ dwk: DWK.person, issuer: 'https://ps2.example' }),
    resource: createTestIssuer({
      dwk: DWK.resource,
      issuer: 'https://resource.example',
      metadata: { access_mode: 'auth-token', scope_descriptions: { read: 'Read', write: 'Write' } },
    }),
    as: createTestIssuer({ dwk: DWK.access, issuer: 'https://as.example' }),
    stranger: createTestIssuer({ dwk: DWK.agent, issuer: 'https://stranger.example' }),
    strangerPs: createTestIssuer({ dwk: DWK.person, issuer: 'https://stranger-ps.example' }),
  };
}

function resolverFor(parties: Parties): IssuerKeyResolver {
  const { stranger: _stranger, strangerPs: _strangerPs, ...known } = parties;
  const offline: IssuerKeyResolver = {
    resolveKey: async () => {
      throw new DiscoveryError('network', 'offline test resolver');
    },
    metadata: async () => {
      throw new DiscoveryError('network', 'offline test resolver');
    },
  };
  return createCompositeKeyResolver(createLocalKeyResolver(Object.values(known)), offline);
}

export interface RunningServer {
  app: FastifyInstance;
  readonly issuer: string;
  readonly clock: FakeClock;
  readonly database: Database;
  readonly parties: Parties;
  /** Rows per table, minus the tables a verified request legitimately writes (see `VOLATILE_TABLES`). */
  countRows(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * Tables written by any request that passes signature verification, whatever the route then decides:
 * the replay cache (§Freshness and Replay) and the PS's record of other APs' agent tokens (kept so an
 * AP's revocation cascades). Everything else must be untouched by a rejected request.
 */
export const VOLATILE_TABLES: ReadonlySet<string> = new Set([
  '_prisma_migrations',
  'replay_entry',
  'seen_agent_token',
  // The PS's mission-failure throttle counts a refused mission request by design (§Mission Endpoint
  // Errors: repeated failures are rate-limited), keyed by the agent and holding no mission reference.
  'rate_limit_attempt',
]);

async function rowCounter(database: Database): Promise<() => Promise<Record<string, number>>> {
  const tables = (
    await database.exec<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
  )
    .map((row) => row.table_name)
    .filter((name) => !VOLATILE_TABLES.has(name));
  const sql = `SELECT ${tables.map((name) => `(SELECT count(*) FROM "${name}")::int AS "${name}"`).join(', ')}`;
  return async () => {
    const [row] = await database.exec<Record<string, number>>(sql);
    return { ...row };
  };
}

async function scratch(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface PersonServer extends RunningServer {
  readonly psKeys: KeyRing;
  readonly apKeys: KeyRing;
}

export async function startPersonServer(
  options: {
    env?: Record<string, string>;
    outboundFetch?: OutboundFetch;
    remoteKeys?: IssuerKeyResolver;
  } = {},
): Promise<PersonServer> {
  const { db, drop } = await createTestDatabase({ migrationsDir: PS_MIGRATIONS });
  const data = await scratch('conf-ps-');
  const config = loadPersonServerConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: data.dir,
    ISSUER: PS_ISSUER,
    SEED_DEMO_PERSONS: '0',
    ...options.env,
  });
  const clock = createFakeClock();
  const prisma = createPsPrisma(db);
  await seedDemoPersons(createPrismaPersonStore(prisma));
  const psKeys = createKeyRing(generateSigningKeysJwks());
  const apKeys = createKeyRing(generateSigningKeysJwks());
  const parties = createParties();
  const app = await buildPersonServer(config, {
    database: db,
    prisma,
    clock,
    psKeys,
    apKeys,
    remoteKeys: options.remoteKeys ?? resolverFor(parties),
    logger: false,
    keepDatabaseOpen: true,
    pendingSleep: async () => undefined,
    // Revocation notices and federation calls are observed, never sent.
    outboundFetch: options.outboundFetch ?? (async () => ({ status: 200 })),
  });
  return {
    app,
    issuer: PS_ISSUER,
    clock,
    database: db,
    parties,
    psKeys,
    apKeys,
    countRows: await rowCounter(db),
    async close() {
      await app.close();
      await prisma.$disconnect();
      await drop();
      await data.remove();
    },
  };
}

/** The policy the AS runs under: reads are granted for trusted PSs, `billing` needs a claim (a pending). */
export const AS_POLICY: PolicyDocument = {
  trusted_person_servers: ['https://ps.example'],
  resources: {
    'https://resource.example': {
      fallback: 'omit',
      rules: [
        { id: 'admin-never', scopes: ['admin'], effect: 'deny' },
        { id: 'read-trusted', scopes: ['read'], when: { ps_trusted: true }, effect: 'grant' },
        {
          id: 'billing-staff',
          scopes: ['billing'],
          when: { claims: { email: { suffix: '@example.com' } } },
          effect: 'grant',
        },
      ],
    },
  },
};

export async function startAuthServer(
  options: { env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const { db, drop } = await createTestDatabase({ migrationsDir: AS_MIGRATIONS });
  const data = await scratch('conf-as-');
  const config = loadAuthServerConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: data.dir,
    ISSUER: AS_ISSUER,
    ...options.env,
  });
  const clock = createFakeClock();
  const prisma = createAsPrisma(db);
  await storePolicyDocument(prisma, AS_POLICY);
  const parties = createParties();
  const app = await buildAuthServer(config, {
    database: db,
    prisma,
    clock,
    keys: createKeyRing(generateSigningKeysJwks()),
    remoteKeys: resolverFor(parties),
    outboundFetch: async () => ({ status: 200 }),
    logger: false,
    keepDatabaseOpen: true,
  });
  return {
    app,
    issuer: AS_ISSUER,
    clock,
    database: db,
    parties,
    countRows: await rowCounter(db),
    async close() {
      await app.close();
      await prisma.$disconnect();
      await drop();
      await data.remove();
    },
  };
}

export async function startResourceServer(
  options: { env?: Record<string, string>; remoteKeys?: IssuerKeyResolver } = {},
): Promise<RunningServer & { readonly keys: KeyRing }> {
  const { db, drop } = await createTestDatabase({ migrationsDir: RS_MIGRATIONS });
  const data = await scratch('conf-rs-');
  const config = loadResourceServerConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: data.dir,
    ISSUER: RS_ISSUER,
    ...options.env,
  });
  const clock = createFakeClock();
  const keys = createKeyRing(generateSigningKeysJwks());
  const parties = createParties();
  const app = await buildResourceServer(config, {
    database: db,
    clock,
    keys,
    remoteKeys: options.remoteKeys ?? resolverFor(parties),
    logger: false,
    keepDatabaseOpen: true,
  });
  return {
    app,
    issuer: RS_ISSUER,
    clock,
    database: db,
    parties,
    keys,
    countRows: await rowCounter(db),
    async close() {
      await app.close();
      await drop();
      await data.remove();
    },
  };
}
