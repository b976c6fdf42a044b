import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKeyResolver, DWK, formatAuthorizationAAuth } from '@aauth-ref/core';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, hashPassword } from '@aauth-ref/fastify';
import {
  buildSignedRequest,
  createFakeClock,
  createTestIssuer,
  type FakeClock,
  injectBuilt,
  makeAgentId,
  makeKeyPair,
} from '@aauth-ref/testkit';
import { type Browser, chromiumSkipReason, launchChromium, type Page } from '@aauth-ref/testkit/browser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, MIGRATIONS_DIR } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createPrismaClient, type PrismaClient } from '../src/stores/prisma.js';
import { createPrismaUserStore } from '../src/stores/prisma-users.js';

/**
 * The resource's own pages in a real browser over real loopback HTTP: a person signs in, consents to
 * a resource-managed session (§Resource-Managed Authorization) with the interaction code the agent
 * got, then revokes that agent on *Connected agents*. The agent's side is signed `app.inject`
 * requests; time is the fake clock's.
 */

const skipReason = chromiumSkipReason();
const browserIt = it.skipIf(skipReason !== undefined);
const USERNAME = 'hana';
const PASSWORD = 'hana-password-1';

let clock: FakeClock;
let database: TestDatabase;
let prisma: PrismaClient;
let app: FastifyInstance;
let issuer: string;
let browser: Browser;
let page: Page;
const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });

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

async function startResource(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rs-browser-'));
  const keys = createKeyRing(generateSigningKeysJwks());
  for (let attempt = 0; ; attempt++) {
    const port = await findFreePort();
    issuer = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      AAUTH_DEV: '1',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      PORT: String(port),
      ISSUER: issuer,
    });
    app = await buildApp(config, {
      database: database.db,
      prisma,
      clock,
      keys,
      remoteKeys: createLocalKeyResolver([ap]),
      logger: false,
      keepDatabaseOpen: true,
    });
    try {
      await app.listen({ host: '127.0.0.1', port });
      return;
    } catch (err) {
      await app.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 2) throw err;
    }
  }
}

const agentKey = makeKeyPair();
const agentSub = makeAgentId(ap);

function agentSends(path: string, headers: Record<string, string> = {}) {
  const agentToken = ap.issue('agent', { sub: agentSub, cnf: { jwk: agentKey.jwk } } as never, { clock });
  return injectBuilt(
    app,
    buildSignedRequest({
      method: 'GET',
      path,
      key: agentKey,
      signatureKey: agentToken,
      headers,
      clock,
      issuer,
    }),
  );
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  database = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  prisma = createPrismaClient(database.db);
  await createPrismaUserStore(prisma).createIfAbsent({
    username: USERNAME,
    passwordHash: await hashPassword(PASSWORD),
    displayName: 'Hana',
  });
  [, browser] = await Promise.all([startResource(), launchChromium()]);
  const context = await browser.newContext({ baseURL: issuer });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await prisma?.$disconnect();
  await database?.drop();
});

describe(`Resource pages in a real browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  browserIt(
    'sign-in, consent with the interaction code, Connected agents and Revoke',
    async () => {
      // The agent asks for the journal and gets the resource's own interaction requirement.
      const started = await agentSends('/api/journal', { 'aauth-capabilities': 'interaction' });
      expect(started.statusCode).toBe(202);
      const requirement = String(started.headers['aauth-requirement']);
      const [, url, code] = /url="([^"]+)";code="([^"]+)"/.exec(requirement)!;
      expect(url).toBe(`${issuer}/interaction`);

      // The person opens it: sign-in first, then the consent page.
      await page.goto(`${url}?code=${encodeURIComponent(code!)}`);
      expect(new URL(page.url()).pathname).toBe('/signin');
      await page.getByLabel('Username').fill(USERNAME);
      await page.getByLabel('Password').fill(PASSWORD);
      await Promise.all([
        page.waitForURL((u) => u.pathname === '/interaction'),
        page.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
      await expect(page.getByRole('heading', { name: 'Allow the agent?' }).count()).resolves.toBe(1);
      expect(await page.locator('main').textContent()).toContain(agentKey.thumbprint);
      await Promise.all([
        page.waitForResponse(
          (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/interaction',
        ),
        page.getByRole('button', { name: 'Allow', exact: true }).click(),
      ]);
      await page.waitForLoadState();
      expect(await page.locator('main').textContent()).toContain('You allowed the agent');

      // The agent's poll delivers the session token; it opens the journal.
      clock.advance(3_000);
      const delivered = await agentSends(new URL(String(started.headers.location)).pathname);
      expect(delivered.statusCode).toBe(200);
      const token = String(delivered.headers['aauth-access']);
      const auth = { authorization: formatAuthorizationAAuth(token) };
      const served = await agentSends('/api/journal', auth);
      expect(served.statusCode).toBe(200);
      expect(served.json().account).toBe(USERNAME);

      // Connected agents lists it; Revoke ends it.
      await page.getByRole('link', { name: 'Connected agents' }).click();
      await page.waitForURL((u) => u.pathname === '/sessions');
      expect(await page.locator('main').textContent()).toContain(agentKey.thumbprint);
      await Promise.all([
        page.waitForURL((u) => u.pathname === '/sessions'),
        page.getByRole('button', { name: 'Revoke', exact: true }).click(),
      ]);
      await page.waitForLoadState();
      expect(await page.locator('main').textContent()).toContain('No agent has a session');

      clock.advance(1_000);
      const refused = await agentSends('/api/journal', auth);
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['signature-error']).toBe('error=invalid_request');
    },
    60_000,
  );
});
