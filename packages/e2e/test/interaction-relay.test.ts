import { DEV, Denied, parseAAuthAccess, parseAAuthRequirement } from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { chromiumSkipReason } from '@aauth-ref/testkit/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentExchange, createTestAgent, type TestAgent } from './support/agents.js';
import { ChromiumPerson } from './support/chromium-person.js';
import { RESOURCE_ACCOUNTS, type Stack, startStack } from './support/stack.js';

/**
 * §Relaying Through the Person Server end to end: the demo resource's journal answers `202
 * requirement=interaction` (resource-managed access, its own account carol); the agent SDK first
 * offers the interaction to its PS's `interaction_endpoint`. With alice signed in at the PS (its
 * channel to her), the PS relays it: alice sees it on her dashboard in Chromium, opens it, follows the
 * link to the resource, allows there as carol, tells the PS she finished, and the agent's poll of the
 * resource's pending URL (authoritative, §Interaction Response) delivers the session token. Without a
 * live session the PS answers `424 interaction_unavailable` and the SDK hands the URL and code to its
 * caller, who brings the person (§Interaction Endpoint Errors).
 */

const skipReason = chromiumSkipReason();
const CAROL = RESOURCE_ACCOUNTS.carol;

let clock: FakeClock;
let stack: Stack;
let person: ChromiumPerson;
/** Called at every wait of an agent; `gate` holds it at its next wait while the person acts. */
let onWait: (() => void) | undefined;
let gate: Promise<void> | undefined;

const journal = () => `${stack.rs.issuer}/api/journal`;
const pathOf = (e: AgentExchange) => new URL(e.url).pathname;

async function newAgent(name: string): Promise<TestAgent> {
  const test = createTestAgent({
    clock,
    account: (prompt) => (prompt.server === stack.rs.issuer ? CAROL : stack.alice),
    person: async (prompt, decision, account) => {
      const { status } = await person.decide(prompt, account, {
        decision: decision === 'Deny' ? 'Deny' : 'Approve',
        ps: stack.ps.issuer,
      });
      expect(status).toBe(200);
    },
    agent: {
      sleep: async (ms) => {
        clock.advance(ms);
        onWait?.();
        if (gate) await gate;
        else await new Promise((resolve) => setImmediate(resolve));
      },
    },
  });
  await test.agent.enroll(stack.ps.issuer, { name, platform: 'e2e' });
  return test;
}

/** Starts `start`, holds the agent at its first wait, runs `act` (the person), then lets the agent go on. */
async function whileAgentWaits<T>(start: () => Promise<T>, act: () => Promise<void>): Promise<T> {
  let release!: () => void;
  gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const waiting = new Promise<void>((resolve) => {
    onWait = resolve;
  });
  const result = start();
  // A failure before the first wait surfaces as the test's failure, not an unhandled rejection.
  result.catch(() => undefined);
  try {
    await Promise.race([waiting, result]);
    await act();
  } finally {
    onWait = undefined;
    gate = undefined;
    release();
  }
  return result;
}

/** The governance log of the PS for `agentSub`, oldest first: (kind, detail). */
async function governanceLog(agentSub: string) {
  return stack.ps.db.exec<{ kind: string; detail: Record<string, unknown> }>(
    'SELECT kind, detail FROM governance_log_entry WHERE agent_sub = $1 ORDER BY id',
    [agentSub],
  );
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  [stack, person] = await Promise.all([startStack(clock), ChromiumPerson.launch()]);
}, 60_000);

afterAll(async () => {
  await person?.close();
  await stack?.close();
});

describe.skipIf(skipReason !== undefined)(
  `interaction relay through the Person Server${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  { timeout: 40_000 },
  () => {
    it('alice signed in at the PS: the relay reaches her dashboard, she completes it at the resource, the agent gets its result', async () => {
      const test = await newAgent('Relay helper');
      const { agent: agentSub } = await test.agent.whoami();
      const prompted = test.interactions.length;
      const from = test.exchanges.length;
      // alice is at her PS dashboard: the PS's channel to her (§Relaying Through the Person Server).
      await person.openSignedIn(`${stack.ps.issuer}/dashboard`, stack.alice);
      expect(new URL(person.page.url()).pathname).toBe('/dashboard');

      let relayedCode = '';
      const response = await whileAgentWaits(
        () => test.agent.fetch(journal()),
        async () => {
          const { page } = person;
          await page.reload();
          const waiting = page.getByRole('table', { name: 'Requests from your agents' });
          expect(await waiting.getByText(agentSub).count()).toBe(1);
          await Promise.all([
            page.waitForURL((u) => u.pathname.startsWith('/governance/')),
            waiting.getByRole('link', { name: 'Open' }).click(),
          ]);
          const governance = page.url();
          expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(
            'Continue on another site',
          );
          relayedCode =
            (await page
              .getByText('Check that the page there shows the code')
              .locator('code')
              .textContent()) ?? '';
          // The link is the resource's interaction URL with the resource's code (§Relaying Through the Person Server).
          const link = page.getByRole('link', { name: `Continue at ${stack.rs.issuer}` });
          expect(await link.getAttribute('href')).toBe(
            `${stack.rs.issuer}/interaction?code=${encodeURIComponent(relayedCode)}`,
          );
          await Promise.all([page.waitForURL((u) => u.origin === stack.rs.issuer), link.click()]);
          await person.signInIfAsked(CAROL);
          expect(page.url()).toMatch(new RegExp(`^${stack.rs.issuer}/interaction`));
          expect(await person.click('Allow')).toBe(200);
          // Back at the PS: she tells it she finished there.
          await page.goto(governance);
          expect(await person.click('I have finished there')).toBe(200);
          await person.signOut(stack.ps.issuer);
        },
      );

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'authorized', scope: 'notes.read' });
      // The SDK never had to direct alice itself.
      expect(test.interactions.length).toBe(prompted);

      const exchanges = test.exchanges.slice(from);
      const challenge = exchanges[0]!;
      expect([pathOf(challenge), challenge.status]).toEqual(['/api/journal', 202]);
      const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement') ?? '', DEV);
      expect(requirement).toMatchObject({
        requirement: 'interaction',
        url: `${stack.rs.issuer}/interaction`,
      });
      const code = (requirement as { code: string }).code;
      expect(relayedCode).toBe(code);

      // §Interaction Request: a signed POST {type, url, code, max_wait} to interaction_endpoint.
      const relay = exchanges.find((e) => pathOf(e) === '/agent-interaction')!;
      expect(relay.method).toBe('POST');
      expect(JSON.parse(relay.requestBody!)).toEqual({
        type: 'interaction',
        url: `${stack.rs.issuer}/interaction`,
        code,
        max_wait: 60,
      });
      // §AAuth-Capabilities: never the header on a PS request.
      expect(relay.requestHeaders['aauth-capabilities']).toBeUndefined();
      expect(relay.requestHeaders['signature-input']).toContain('"content-digest"');
      expect(relay.status).toBe(202);
      expect(relay.headers.get('cache-control')).toBe('no-store');
      const relayPending = new URL(relay.headers.get('location')!, stack.ps.issuer);
      expect(relayPending.pathname).toMatch(/^\/agent-interaction\/pending\/[A-Za-z0-9_-]+$/);
      // The relay resolved once alice finished (§Interaction Response) …
      const relayPolls = exchanges.filter((e) => e.url === relayPending.href);
      expect(relayPolls.at(-1)!.status).toBe(200);
      expect(JSON.parse(relayPolls.at(-1)!.body)).toEqual({ relay: 'done' });
      // … and the resource's pending URL, polled after it, delivered the session token.
      const resourcePending = new URL(challenge.headers.get('location')!, stack.rs.issuer).href;
      const delivered = exchanges.filter((e) => e.url === resourcePending).at(-1)!;
      expect(delivered.status).toBe(200);
      expect(exchanges.indexOf(delivered)).toBeGreaterThan(exchanges.indexOf(relayPolls.at(-1)!));
      expect(parseAAuthAccess(delivered.headers.get('aauth-access')!)).toBe(
        (await test.store.read('sessions'))?.[stack.rs.issuer],
      );

      // The PS recorded the request and what alice did with it (§Interaction Response: SHOULD record).
      const log = await governanceLog(agentSub);
      expect(log.map((e) => [e.kind, e.detail.outcome ?? e.detail.type])).toEqual([
        ['interaction_request', 'interaction'],
        ['interaction_response', 'engaged'],
        ['interaction_response', 'done'],
      ]);
      expect(log[0]!.detail).toMatchObject({ url: `${stack.rs.issuer}/interaction`, max_wait: 60 });
    });

    it('alice declines the relayed interaction on the PS: the agent gets 403 denied', async () => {
      const test = await newAgent('Declined relay');
      await person.openSignedIn(`${stack.ps.issuer}/dashboard`, stack.alice);
      const attempt = whileAgentWaits(
        () => test.agent.fetch(journal()),
        async () => {
          const { page } = person;
          await page.reload();
          await Promise.all([
            page.waitForURL((u) => u.pathname.startsWith('/governance/')),
            page
              .getByRole('table', { name: 'Requests from your agents' })
              .getByRole('link', { name: 'Open' })
              .click(),
          ]);
          expect(await person.click('Decline')).toBe(200);
          await person.signOut(stack.ps.issuer);
        },
      );
      await expect(attempt).rejects.toBeInstanceOf(Denied);
      await expect(attempt).rejects.toMatchObject({ error: 'denied', status: 403 });
      expect(test.interactions).toHaveLength(1); // the enrollment only
    });

    it('no live session at the PS: 424 interaction_unavailable, the SDK hands the URL and code to its caller', async () => {
      const test = await newAgent('Fallback helper');
      const { agent: agentSub } = await test.agent.whoami();
      const prompted = test.interactions.length;
      const from = test.exchanges.length;
      const response = await test.agent.fetch(journal());
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'authorized', scope: 'notes.read' });

      const exchanges = test.exchanges.slice(from);
      const challenge = exchanges[0]!;
      const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement') ?? '', DEV) as {
        url: string;
        code: string;
      };
      const relay = exchanges.find((e) => pathOf(e) === '/agent-interaction')!;
      expect(relay.status).toBe(424);
      expect(relay.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(relay.body)).toMatchObject({ error: 'interaction_unavailable' });
      // Non-terminal: the caller got exactly what the resource asked for, and carol decided there.
      expect(test.interactions.slice(prompted)).toEqual([
        {
          server: stack.rs.issuer,
          url: requirement.url,
          code: requirement.code,
          decision: 'Approve',
        },
      ]);
      expect(exchanges.indexOf(relay)).toBeLessThan(exchanges.length - 1);
      const log = await governanceLog(agentSub);
      expect(log.map((e) => [e.kind, e.detail.error])).toEqual([
        ['interaction_request', 'interaction_unavailable'],
      ]);
    });
  },
);
