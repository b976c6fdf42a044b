import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEV,
  generateKeyPair,
  type KeyPair,
  parseAAuthRequirement,
  verifyMissionApproval,
} from '@aauth-ref/core';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import {
  createFakeClock,
  type FakeClock,
  signedFetch,
  startTestAgentProvider,
  type TestAgentProvider,
  type TestBody,
} from '@aauth-ref/testkit';
import { type Browser, chromiumSkipReason, launchChromium, type Page } from '@aauth-ref/testkit/browser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, MIGRATIONS_DIR } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { DEMO_PERSONS, seedDemoPersons } from '../src/seed.js';
import { createPrismaClient, type PrismaClient } from '../src/stores/prisma.js';
import { createPrismaPersonStore } from '../src/stores/prisma-persons.js';

/**
 * Missions driven by a real browser over real HTTP (issue #4, *What must be shown*): an agent proposes
 * a mission whose description carries HTML, the person (alice, in headless Chromium) sees it inert, asks
 * a clarifying question, approves with a narrowed tool list, accepts a completion, and revokes another
 * mission — every decision by clicking. The agent's Agent Provider is a loopback test server whose keys
 * the PS discovers over HTTP (dev mode). Time is the fake clock's.
 */

const skipReason = chromiumSkipReason();
const browserIt = it.skipIf(skipReason !== undefined);
const ALICE = DEMO_PERSONS[0];
const HOSTILE_DESCRIPTION = [
  '# Plan the offsite',
  '',
  'Book rooms <img src=x onerror="window.__xss = 1"> and share the agenda.',
  '',
  '<script>window.__xss = 2</script>',
].join('\n');

let clock: FakeClock;
let database: TestDatabase;
let prisma: PrismaClient;
let dataDir: string;
let ps: { app: FastifyInstance; issuer: string };
let agentProvider: TestAgentProvider;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

const agentKey: KeyPair = generateKeyPair('Ed25519');
/** Minted per request: the fake clock moves on, and a fresh token keeps the agent's identity and key. */
function agentToken(): string {
  return agentProvider.mintAgentToken({ cnf: agentKey, ps: ps.issuer, clock, lifetimeSeconds: 3600 });
}

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

async function startPersonServer(): Promise<{ app: FastifyInstance; issuer: string }> {
  const psKeys = createKeyRing(generateSigningKeysJwks());
  const apKeys = createKeyRing(generateSigningKeysJwks());
  for (let attempt = 0; ; attempt++) {
    const port = await findFreePort();
    const issuer = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      AAUTH_DEV: '1',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      PORT: String(port),
      ISSUER: issuer,
      SEED_DEMO_PERSONS: '0',
    });
    const app = await buildApp(config, {
      database: database.db,
      prisma,
      clock,
      psKeys,
      apKeys,
      logger: false,
      keepDatabaseOpen: true,
      // Mission revocation notifies resources; these missions name none, so nothing is ever sent.
      outboundFetch: async () => ({ status: 200 }),
    });
    try {
      await app.listen({ host: '127.0.0.1', port });
      return { app, issuer };
    } catch (err) {
      await app.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 2) throw err;
    }
  }
}

/** A signed agent request; each gets its own `created` second. */
function send(path: string, body?: TestBody): Promise<Response> {
  clock.advance(1000);
  return signedFetch(new URL(path, ps.issuer).href, {
    method: body === undefined ? 'GET' : 'POST',
    key: agentKey,
    signatureKey: agentToken(),
    clock,
    ...(body === undefined ? {} : { body }),
  });
}

interface Deferred {
  readonly location: string;
  readonly code?: string;
}

async function expectDeferred(res: Response): Promise<Deferred> {
  expect(res.status).toBe(202);
  const header = res.headers.get('aauth-requirement');
  const requirement = header === null ? undefined : parseAAuthRequirement(header, DEV);
  return {
    location: new URL(String(res.headers.get('location')), ps.issuer).pathname,
    ...(requirement && 'code' in requirement ? { code: String(requirement.code) } : {}),
  };
}

async function poll(deferred: Deferred): Promise<Response> {
  clock.advance(5000);
  return send(deferred.location);
}

async function propose(body: Record<string, unknown>): Promise<Deferred> {
  const deferred = await expectDeferred(
    await send('/mission', { ...body, capabilities: ['interaction', 'clarification'] }),
  );
  expect(deferred.code).toBeDefined();
  return deferred;
}

/** Opens the review page for a code; signs alice in first when the PS asks for it. */
async function openReview(deferred: Deferred): Promise<void> {
  await page.goto(`/interaction?code=${encodeURIComponent(deferred.code!)}`);
  if (new URL(page.url()).pathname === '/signin') {
    await page.getByLabel('Username').fill(ALICE.username);
    await page.getByLabel('Password').fill(ALICE.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/signin'),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
  }
  await button('Approve').waitFor();
}

function button(name: string) {
  return page.getByRole('button', { name, exact: true });
}

/** Clicks a decision button and waits for the PS's answer to the form. */
async function click(name: string, path: string): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path),
    button(name).click(),
  ]);
  await page.waitForLoadState();
  return response.status();
}

async function approvedMission(body: Record<string, unknown>): Promise<string> {
  const deferred = await propose(body);
  await openReview(deferred);
  expect(await click('Approve', '/interaction/mission')).toBe(200);
  const answer = await poll(deferred);
  expect(answer.status).toBe(200);
  return verifyMissionApproval((await answer.json()) as { s256: unknown; mission: unknown }).s256;
}

/** The page runs no script the agent wrote, and shows its markup as text. */
async function expectInert(): Promise<void> {
  const main = page.locator('main');
  await main.getByText('onerror="window.__xss = 1"').first().waitFor();
  expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
  expect(await main.locator('img').count()).toBe(0);
  expect(await main.locator('script').count()).toBe(0);
  expect(dialogs).toEqual([]);
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  database = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  prisma = createPrismaClient(database.db);
  await seedDemoPersons(createPrismaPersonStore(prisma));
  dataDir = await mkdtemp(join(tmpdir(), 'ps-browser-missions-'));
  [ps, agentProvider, browser] = await Promise.all([
    startPersonServer(),
    startTestAgentProvider(),
    launchChromium(),
  ]);
  const context = await browser.newContext({ baseURL: ps.issuer });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
});

afterAll(async () => {
  await browser?.close();
  await ps?.app.close();
  await agentProvider?.close();
  await prisma?.$disconnect();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe(`missions in a real browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let missionS256: string;

  browserIt(
    'shows a proposal with HTML inert, asks a question, and approves with a narrowed tool list',
    async () => {
      const deferred = await propose({
        description: HOSTILE_DESCRIPTION,
        tools: [
          { name: 'WebSearch', description: 'Search the web' },
          { name: 'SendMail', description: 'Send messages <img src=x onerror="window.__xss = 3">' },
        ],
      });
      await openReview(deferred);
      // §Untrusted Input: the description's markup is text; no script runs, no element is created.
      await expectInert();

      // §Clarification Chat: the person asks; the agent's poll carries the question; it answers.
      await page.getByLabel('Your question').fill('Which **dates**?');
      await Promise.all([
        page.waitForURL((u) => u.pathname.startsWith('/interaction/requests/')),
        button('Ask the agent').click(),
      ]);
      const asked = await poll(deferred);
      expect(asked.status).toBe(202);
      expect(asked.headers.get('aauth-requirement')).toBe('requirement=clarification');
      expect(((await asked.json()) as { clarification: string }).clarification).toBe('Which **dates**?');
      clock.advance(1000);
      const answered = await send(deferred.location, {
        action: 'clarification_response',
        clarification_response: 'The **first week** of May. <script>window.__xss = 4</script>',
      });
      expect(answered.status).toBe(202);
      await page.reload();
      await page.locator('main strong', { hasText: 'first week' }).waitFor();
      expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
      expect(await page.locator('main script').count()).toBe(0);

      // Narrow the tools: SendMail is not approved.
      await page.locator('input[name="tool"][value="SendMail"]').uncheck();
      expect(await click('Approve', '/interaction/mission')).toBe(200);

      const answer = await poll(deferred);
      expect(answer.status).toBe(200);
      const approved = verifyMissionApproval((await answer.json()) as { s256: unknown; mission: unknown });
      expect(approved.blob.approved_tools).toEqual([{ name: 'WebSearch', description: 'Search the web' }]);
      expect(approved.blob.description).toBe(HOSTILE_DESCRIPTION);
      missionS256 = approved.s256;

      // The missions list shows the same description, inert too.
      await page.goto('/missions');
      await page.getByText(missionS256).first().waitFor();
      await expectInert();
    },
  );

  browserIt('accepts a completion from the missions list', async () => {
    const deferred = await expectDeferred(
      await send(`/mission/${missionS256}`, { action: 'completion', summary: 'Rooms **booked**.' }),
    );
    const waiting = await poll(deferred);
    expect(waiting.status).toBe(202);

    await page.goto('/missions');
    await Promise.all([
      page.waitForURL((u) => u.pathname.startsWith('/interaction/requests/')),
      page.getByRole('link', { name: `Review the completion of mission ${missionS256}` }).click(),
    ]);
    await page.locator('main strong', { hasText: 'booked' }).waitFor();
    expect(await click('Accept', '/interaction/mission')).toBe(200);

    const done = await poll(deferred);
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({ mission_status: 'terminated', termination_reason: 'completed' });
    await page.goto('/missions');
    await page.getByText('terminated (completed)').first().waitFor();
  });

  browserIt('revokes another mission on the missions list', async () => {
    const other = await approvedMission({ description: 'Tidy the **shared drive**.' });
    await page.goto('/missions');
    const form = page.getByRole('form', { name: `Revoke mission ${other}` });
    await Promise.all([
      page.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/missions/revoke',
      ),
      form.getByRole('button', { name: 'Revoke', exact: true }).click(),
    ]);
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname).toBe('/missions');
    await page
      .getByRole('region', { name: `Mission ${other}` })
      .getByText('terminated (revoked)')
      .waitFor();

    // §Mission Status Errors: the owning agent learns the mission ended, and why.
    const refused = await send(`/mission/${other}`, { action: 'update', description: 'More work.' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'revoked',
    });
    expect(dialogs).toEqual([]);
  });
});
