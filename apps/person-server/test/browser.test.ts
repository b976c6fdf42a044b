import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AAuthRequirement,
  DEV,
  DWK,
  decodeJwtUnverified,
  generateKeyPair,
  issueJktJwt,
  type KeyPair,
  type PersonTokenClaims,
  parseAAuthRequirement,
  type SignatureKeyMember,
} from '@aauth-ref/core';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks } from '@aauth-ref/fastify';
import {
  createFakeClock,
  type FakeClock,
  makeResourceToken,
  signedFetch,
  startTestIssuerServer,
  type TestBody,
  type TestIssuerServer,
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
 * The Person Server driven by a real browser over real HTTP: the PS listens on a loopback port, an
 * agent talks to it with signed `fetch` requests, and a person (the demo alice) signs in and decides
 * in headless Chromium. Time is the fake clock's: polls move it by the `Retry-After` they were given.
 */

const skipReason = chromiumSkipReason();
const browserIt = it.skipIf(skipReason !== undefined);
const ALICE = DEMO_PERSONS[0];
/** Set AAUTH_SCREENSHOT_DIR to keep a picture of the consent page for a person to look at. */
const SCREENSHOT_DIR = process.env.AAUTH_SCREENSHOT_DIR;
const XSS_JUSTIFICATION = [
  'I need to **read** your files to prepare the report.',
  '',
  '<script>window.__xss = 1</script>',
  '',
  'Details: [x](javascript:alert(1))',
].join('\n');

interface Running {
  readonly app: FastifyInstance;
  readonly issuer: string;
}

let clock: FakeClock;
let database: TestDatabase;
let prisma: PrismaClient;
let dataDir: string;
let ps: Running;
let resourceA: TestIssuerServer;
let resourceB: TestIssuerServer;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

/** A port free right now on loopback (the PS's issuer must name its port before it is built). */
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

/** Builds the PS with issuer `http://127.0.0.1:<port>` and listens there; retries if the port was taken meanwhile. */
async function startPersonServer(): Promise<Running> {
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
    // No key resolver injected: the PS discovers the resources' keys over HTTP (dev mode: loopback egress).
    const app = await buildApp(config, {
      database: database.db,
      prisma,
      clock,
      psKeys,
      apKeys,
      logger: false,
      keepDatabaseOpen: true,
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

/** A resource whose metadata (§Resource Metadata) the consent page may show; it also signs resource tokens. */
function startResource(
  name: string,
  description: string,
  access_mode: 'person-token' | 'auth-token',
): Promise<TestIssuerServer> {
  return startTestIssuerServer({
    dwk: DWK.resource,
    metadata: {
      name,
      description,
      access_mode,
      scope_descriptions: { read: `Read what you keep in ${name}` },
    },
  });
}

// --- The agent: real HTTP with signed requests --------------------------------------------------------

interface Agent {
  readonly durable: KeyPair;
  readonly key: KeyPair;
  readonly token: string;
  readonly sub: string;
}

let agent: Agent;
let personToken: { readonly jwt: string; readonly claims: PersonTokenClaims };

function send(
  path: string,
  key: KeyPair,
  signatureKey: string | SignatureKeyMember,
  options: { method?: string; body?: TestBody } = {},
): Promise<Response> {
  return signedFetch(new URL(path, ps.issuer).href, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    key,
    signatureKey,
    clock,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
}

function hwk(key: KeyPair): SignatureKeyMember {
  const { kid: _kid, ...jwk } = key.jwk;
  return { scheme: 'hwk', jwk: jwk as Record<string, string> };
}

interface Deferred {
  readonly location: string;
  readonly retryAfter: number;
  readonly requirement: AAuthRequirement & { readonly url: string; readonly code: string };
}

/** §Deferred Responses: a `202` with `Location`, `Retry-After` and `requirement=interaction`. */
async function expectDeferred(res: Response): Promise<Deferred> {
  expect(res.status).toBe(202);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toEqual({ status: 'pending' });
  const requirement = parseAAuthRequirement(String(res.headers.get('aauth-requirement')), DEV);
  expect(requirement).toMatchObject({ requirement: 'interaction', url: `${ps.issuer}/interaction` });
  return {
    location: new URL(String(res.headers.get('location')), ps.issuer).href,
    retryAfter: Number(res.headers.get('retry-after')),
    requirement: requirement as Deferred['requirement'],
  };
}

/** Polls as a well-behaved agent: waits `Retry-After` (on the fake clock) before each GET. */
async function pollOnce(
  deferred: { retryAfter: number; location: string },
  key: KeyPair,
  signatureKey: string | SignatureKeyMember,
): Promise<Response> {
  expect(deferred.retryAfter).toBeGreaterThan(0);
  clock.advance(deferred.retryAfter * 1000);
  const res = await send(deferred.location, key, signatureKey);
  const next = res.headers.get('retry-after');
  if (res.status === 202 && next !== null) deferred.retryAfter = Number(next);
  return res;
}

// --- The person: Chromium -------------------------------------------------------------------------------

/** Opens the interaction page for a code; signs alice in first when the PS asks for it. */
async function openInteraction(deferred: Deferred): Promise<void> {
  const url = `${deferred.requirement.url}?code=${encodeURIComponent(deferred.requirement.code)}`;
  await page.goto(url);
  if (new URL(page.url()).pathname === '/signin') {
    await page.getByLabel('Username').fill(ALICE.username);
    await page.getByLabel('Password').fill(ALICE.password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/interaction'), signInButton().click()]);
  }
  expect(new URL(page.url()).pathname).toBe('/interaction');
  await decisionButton('Approve').waitFor();
}

function signInButton() {
  return page.getByRole('button', { name: 'Sign in', exact: true });
}

function decisionButton(name: 'Approve' | 'Deny') {
  return page.getByRole('button', { name, exact: true });
}

async function decide(name: 'Approve' | 'Deny'): Promise<void> {
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/interaction',
    ),
    decisionButton(name).click(),
  ]);
  expect(response.status()).toBe(200);
  await page.waitForLoadState();
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  database = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  prisma = createPrismaClient(database.db);
  await seedDemoPersons(createPrismaPersonStore(prisma));
  dataDir = await mkdtemp(join(tmpdir(), 'ps-browser-'));
  [ps, resourceA, resourceB, browser] = await Promise.all([
    startPersonServer(),
    startResource('Files', 'Documents you keep online.', 'auth-token'),
    startResource('Calendar', 'Your appointments.', 'person-token'),
    launchChromium(),
  ]);
  const context = await browser.newContext({ baseURL: ps.issuer });
  // Fail a step with Playwright's own message well before the test's timeout.
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
  await Promise.all([resourceA?.close(), resourceB?.close()]);
  await prisma?.$disconnect();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe(`Person Server in a real browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  browserIt('enrolls an agent (hwk, then jkt-jwt) approved by alice in the browser', async () => {
    const durable = generateKeyPair('Ed25519');
    const enrolled = await expectDeferred(
      await send('/agent/enroll', durable, hwk(durable), {
        body: { name: 'Report writer', platform: 'desktop', device: 'laptop' },
      }),
    );
    expect(enrolled.location).toMatch(new RegExp(`^${ps.issuer}/agent/enroll/pending/`));

    await openInteraction(enrolled);
    await decide('Approve');

    const approved = await pollOnce(enrolled, durable, hwk(durable));
    expect(approved.status).toBe(200);
    const { status, agent: sub } = (await approved.json()) as { status: string; agent: string };
    expect(status).toBe('approved');
    expect(sub).toMatch(/^aauth:[0-9a-z]+@127\.0\.0\.1:\d+$/);

    const key = generateKeyPair('Ed25519');
    const jktJwt = issueJktJwt(durable, key.jwk, { clock, lifetimeSeconds: 300 });
    const tokenRes = await send('/agent/token', key, { scheme: 'jkt-jwt', jwt: jktJwt }, { body: {} });
    expect(tokenRes.status).toBe(200);
    const { agent_token } = (await tokenRes.json()) as { agent_token: string };
    agent = { durable, key, token: agent_token, sub };
  });

  browserIt('approves one person token and denies another; the polls answer 200 and 403 denied', async () => {
    const requestFor = async (resource: TestIssuerServer) =>
      expectDeferred(
        await send('/person', agent.key, agent.token, {
          body: { resource: resource.issuer, capabilities: ['interaction'] },
        }),
      );
    const first = await requestFor(resourceA);
    const second = await requestFor(resourceB);
    expect(second.requirement.code).not.toBe(first.requirement.code);

    // Before the person decides, a poll is still pending.
    const waiting = await pollOnce(first, agent.key, agent.token);
    expect(waiting.status).toBe(202);
    expect(await waiting.json()).toEqual({ status: 'pending' });

    // The codes tie each page to its request; the polls below tell which one was approved.
    await openInteraction(first);
    await decide('Approve');
    await openInteraction(second);
    await decide('Deny');

    const granted = await pollOnce(first, agent.key, agent.token);
    expect(granted.status).toBe(200);
    expect(granted.headers.get('cache-control')).toBe('no-store');
    const { person_token } = (await granted.json()) as { person_token: string };
    const claims = decodeJwtUnverified(person_token).payload as unknown as PersonTokenClaims;
    expect(claims).toMatchObject({
      iss: ps.issuer,
      aud: resourceA.issuer,
      cnf: { jwk: { x: agent.key.jwk.x } },
    });
    personToken = { jwt: person_token, claims };

    // §Polling Error Codes: the person denied.
    const denied = await pollOnce(second, agent.key, agent.token);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: string }).error).toBe('denied');
  });

  browserIt('shows a Markdown justification as inert text on the consent page', async () => {
    // A resource token from resource A naming the person token it was shown (§Resource Token Structure).
    const resourceToken = makeResourceToken({
      issuer: resourceA,
      clock,
      aud: ps.issuer,
      ps: ps.issuer,
      sub: personToken.claims.sub,
      presented_jti: personToken.claims.jti,
      agentKey: agent.key,
      scope: 'read',
    });
    const deferred = await expectDeferred(
      await send('/token', agent.key, agent.token, {
        body: {
          resource_token: resourceToken.jwt,
          justification: XSS_JUSTIFICATION,
          capabilities: ['interaction'],
        },
      }),
    );

    await openInteraction(deferred);
    const main = page.locator('main');
    // The script is shown as text, never run or inserted as an element.
    await main.getByText('<script>window.__xss = 1</script>').first().waitFor();
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await main.locator('script').count()).toBe(0);
    // The javascript: link is refused: no element carries it as a target.
    const hrefs = await page
      .locator('[href]')
      .evaluateAll((nodes) =>
        nodes.map((node) =>
          String((node as unknown as { getAttribute(name: string): string | null }).getAttribute('href')),
        ),
      );
    expect(hrefs.filter((href) => /^\s*javascript:/i.test(href))).toEqual([]);
    expect(dialogs).toEqual([]);
    if (SCREENSHOT_DIR) await page.screenshot({ path: `${SCREENSHOT_DIR}/ps-consent.png`, fullPage: true });

    await decide('Approve');
    const issued = await pollOnce(deferred, agent.key, agent.token);
    expect(issued.status).toBe(200);
    const { auth_token } = (await issued.json()) as { auth_token: string };
    expect(decodeJwtUnverified(auth_token).payload).toMatchObject({
      iss: ps.issuer,
      aud: resourceA.issuer,
      sub: personToken.claims.sub,
      scope: 'read',
    });
  });
});
