import { type Agent, createAgent, createMemoryStore, type InteractionPrompt } from '@aauth-ref/agent';
import { DEV, Denied } from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { type Browser, chromiumSkipReason, launchChromium, type Page } from '@aauth-ref/testkit/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './support/stack.js';

/**
 * Three-party access end to end: the real agent SDK talks over real HTTP to the Person Server (also
 * its Agent Provider) and the demo notes resource, each listening on its own loopback port; every
 * decision the person makes (enrollment, person token, auth token, step-up, a denial) is made by the
 * demo person alice in headless Chromium on the PS's own pages. The SDK's `onInteraction` callback
 * hands the `url` and `code` to the browser. Time is one fake clock shared by servers and agent: the
 * agent's waits move it by the `Retry-After` it was given instead of sleeping.
 */

const skipReason = chromiumSkipReason();
const browserIt = it.skipIf(skipReason !== undefined);

const NOTE_TEXT = 'Buy oat milk';

let clock: FakeClock;
let stack: Stack;
let browser: Browser;
let page: Page;
let agent: Agent;
let agentSub: string;
/** Every interaction the SDK handed over, in order, with the decision taken on it. */
const interactions: (InteractionPrompt & { decision: 'Approve' | 'Deny' })[] = [];
/** What alice does on the next consent page. */
let nextDecision: 'Approve' | 'Deny' = 'Approve';

function rsUrl(path: string): string {
  return new URL(path, stack.rs.issuer).href;
}

/** alice opens `{url}?code={code}`, signs in when the PS asks, and clicks the decision. */
async function decideInBrowser(prompt: InteractionPrompt): Promise<void> {
  const decision = nextDecision;
  interactions.push({ ...prompt, decision });
  await page.goto(`${prompt.url}?code=${encodeURIComponent(prompt.code)}`);
  if (new URL(page.url()).pathname === '/signin') {
    await page.getByLabel('Username').fill(stack.alice.username);
    await page.getByLabel('Password').fill(stack.alice.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/interaction'),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
  }
  expect(new URL(page.url()).pathname).toBe('/interaction');
  const button = page.getByRole('button', { name: decision, exact: true });
  await button.waitFor();
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/interaction',
    ),
    button.click(),
  ]);
  expect(response.status()).toBe(200);
  await page.waitForLoadState();
}

/** The interactions handed over since `from`, as `server` and decision. */
function interactionsSince(from: number): { server: string; url: string; decision: string }[] {
  return interactions.slice(from).map(({ server, url, decision }) => ({ server, url, decision }));
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  [stack, browser] = await Promise.all([startStack(clock), launchChromium()]);
  const context = await browser.newContext();
  // Fail a step with Playwright's own message well before the test's timeout.
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  agent = createAgent({
    store: createMemoryStore(),
    clock,
    // A wait moves the shared clock (the servers see the interval pass) and yields to the event loop.
    sleep: async (ms) => {
      clock.advance(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    identifierPolicy: DEV,
    onInteraction: decideInBrowser,
    justification: 'Keep my shopping list in my notes.',
  });
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe(`three-party access over real HTTP${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  browserIt('enrolls the agent at the PS Agent Provider, approved by alice in the browser', async () => {
    const identity = await agent.enroll(stack.ps.issuer, { name: 'Shopping helper', platform: 'e2e' });
    expect(identity.agent).toMatch(/^aauth:[0-9a-z]+@127\.0\.0\.1:\d+$/);
    expect(identity.agent_provider).toBe(stack.ps.issuer);
    expect(identity.ps).toBe(stack.ps.issuer);
    // Two-key refresh: the agent token's key is an ephemeral key, not the enrolled durable key.
    expect(identity.key_thumbprint).not.toBe(identity.durable_jkt);
    expect(interactionsSince(0)).toEqual([
      { server: stack.ps.issuer, url: `${stack.ps.issuer}/interaction`, decision: 'Approve' },
    ]);
    agentSub = identity.agent;
  });

  browserIt(
    'agent identity access: GET /api/agent/whoami answers 200 with the agent token alone',
    async () => {
      const before = interactions.length;
      const identity = await agent.whoami();
      const res = await agent.fetch(rsUrl('/api/agent/whoami'));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        agent: agentSub,
        agent_provider: stack.ps.issuer,
        ps: stack.ps.issuer,
        key_thumbprint: identity.key_thumbprint,
      });
      expect(interactions.length).toBe(before);
    },
  );

  browserIt('a denied consent surfaces the typed Denied error (§Polling Error Codes)', async () => {
    const before = interactions.length;
    nextDecision = 'Deny';
    try {
      const attempt = agent.fetch(rsUrl('/api/me'));
      await expect(attempt).rejects.toBeInstanceOf(Denied);
      await expect(attempt).rejects.toMatchObject({ error: 'denied', status: 403 });
    } finally {
      nextDecision = 'Approve';
    }
    expect(interactionsSince(before)).toEqual([
      { server: stack.ps.issuer, url: `${stack.ps.issuer}/interaction`, decision: 'Deny' },
    ]);
  });

  browserIt('person identity access: GET /api/me with a person token alice approved', async () => {
    const before = interactions.length;
    const res = await agent.fetch(rsUrl('/api/me'));
    expect(res.status).toBe(200);
    const me = (await res.json()) as { iss: string; sub: string; via: string };
    expect(me).toMatchObject({ iss: stack.ps.issuer, via: 'person-token', notes_count: 0 });
    expect(me.sub).toEqual(expect.any(String));
    expect(interactionsSince(before)).toEqual([
      { server: stack.ps.issuer, url: `${stack.ps.issuer}/interaction`, decision: 'Approve' },
    ]);
    // The person token is cached for the resource: a second call asks nobody.
    const again = await agent.fetch(rsUrl('/api/me'));
    expect(again.status).toBe(200);
    expect(interactions.length).toBe(before + 1);
  });

  browserIt(
    'three-party GET /api/notes: auth token for notes.read after consent in the browser',
    async () => {
      const before = interactions.length;
      const res = await agent.fetch(rsUrl('/api/notes'));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ notebook: 'personal', notes: [] });
      expect(interactionsSince(before).map((i) => i.server)).toEqual([stack.ps.issuer]);
      const auth = (await agent.tokens()).filter((t) => t.kind === 'auth');
      expect(auth).toHaveLength(1);
      expect(auth[0]).toMatchObject({
        resource: stack.rs.issuer,
        claims: { iss: stack.ps.issuer, aud: stack.rs.issuer, scope: 'notes.read' },
      });
      // The auth token is reused: no new consent.
      expect((await agent.fetch(rsUrl('/api/notes'))).status).toBe(200);
      expect(interactions.length).toBe(before + 1);
    },
  );

  browserIt('step-up: POST /api/notes raises notes.read to notes.read notes.write', async () => {
    const before = interactions.length;
    const res = await agent.fetch(rsUrl('/api/notes'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: NOTE_TEXT }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ note: { notebook: 'personal', text: NOTE_TEXT } });
    expect(interactionsSince(before).map((i) => i.server)).toEqual([stack.ps.issuer]);
    const auth = (await agent.tokens()).filter((t) => t.kind === 'auth');
    expect(auth).toHaveLength(1);
    expect(String(auth[0]?.claims?.scope).split(' ').sort()).toEqual(['notes.read', 'notes.write']);

    // The stepped-up token reads too, and the note is there.
    const list = await agent.fetch(rsUrl('/api/notes'));
    expect(list.status).toBe(200);
    expect(await list.json()).toMatchObject({ notebook: 'personal', notes: [{ text: NOTE_TEXT }] });
    expect(interactions.length).toBe(before + 1);
  });
});
