import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
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

export interface RunningServer {
  readonly app: FastifyInstance;
  /** `http://127.0.0.1:<port>`: the server's issuer and listening origin. */
  readonly issuer: string;
  close(): Promise<void>;
}

export interface Stack {
  /** The Person Server and, on the same origin, the Agent Provider of the test agents. */
  readonly ps: RunningServer;
  /** The demo notes resource. */
  readonly rs: RunningServer;
  /** The demo person who decides in the browser. */
  readonly alice: { readonly username: string; readonly password: string };
  close(): Promise<void>;
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

/** The Person Server with its demo persons (alice, bob) seeded. */
export async function startPersonServer(clock: FakeClock): Promise<RunningServer> {
  const { value, cleanup } = await withCleanups(async (defer) => {
    const dataDir = await tempDir('e2e-ps-', defer);
    const database = await testDatabase(PS_MIGRATIONS_DIR, defer);
    const prisma = createPersonServerPrisma(database.db);
    defer(() => prisma.$disconnect());
    await seedDemoPersons(createPrismaPersonStore(prisma));
    const psKeys = createKeyRing(generateSigningKeysJwks());
    const apKeys = createKeyRing(generateSigningKeysJwks());
    const running = await listenOnFreePort(async (port, issuer) => {
      const config = loadPersonServerConfig({
        AAUTH_DEV: '1',
        LOG_LEVEL: 'silent',
        DATA_DIR: dataDir,
        PORT: String(port),
        ISSUER: issuer,
        SEED_DEMO_PERSONS: '0',
      });
      return buildPersonServer(config, {
        database: database.db,
        prisma,
        clock,
        psKeys,
        apKeys,
        logger: false,
        keepDatabaseOpen: true,
      });
    });
    defer(() => running.app.close());
    return running;
  });
  return { ...value, close: cleanup };
}

/** The demo notes resource, trusting any Person Server it verifies (`PERSON_SERVER_TRUST=verified`). */
export async function startResourceServer(clock: FakeClock): Promise<RunningServer> {
  const { value, cleanup } = await withCleanups(async (defer) => {
    const dataDir = await tempDir('e2e-rs-', defer);
    const database = await testDatabase(RS_MIGRATIONS_DIR, defer);
    const keys = createKeyRing(generateSigningKeysJwks());
    const running = await listenOnFreePort(async (port, issuer) => {
      const config = loadResourceServerConfig({
        AAUTH_DEV: '1',
        LOG_LEVEL: 'silent',
        DATA_DIR: dataDir,
        PORT: String(port),
        ISSUER: issuer,
      });
      return buildResourceServer(config, {
        database: database.db,
        clock,
        keys,
        logger: false,
        keepDatabaseOpen: true,
      });
    });
    defer(() => running.app.close());
    return running;
  });
  return { ...value, close: cleanup };
}

/** PS and resource, started together on one clock. */
export async function startStack(clock: FakeClock): Promise<Stack> {
  const [ps, rs] = await Promise.allSettled([startPersonServer(clock), startResourceServer(clock)]);
  if (ps.status === 'rejected' || rs.status === 'rejected') {
    if (ps.status === 'fulfilled') await ps.value.close();
    if (rs.status === 'fulfilled') await rs.value.close();
    throw ps.status === 'rejected' ? ps.reason : (rs as PromiseRejectedResult).reason;
  }
  const alice = DEMO_PERSONS[0];
  if (!alice) throw new Error('the PS seeds no demo person');
  return {
    ps: ps.value,
    rs: rs.value,
    alice: { username: alice.username, password: alice.password },
    async close() {
      await Promise.all([ps.value.close(), rs.value.close()]);
    },
  };
}
