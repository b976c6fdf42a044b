import {
  type Agent,
  type AgentOptions,
  type AgentStore,
  createAgent,
  createMemoryStore,
  type InteractionPrompt,
} from '@aauth-ref/agent';
import { DEV, decodeJwtUnverified, importPrivateJwk, type KeyPair } from '@aauth-ref/core';
import type { FakeClock } from '@aauth-ref/testkit';
import { expect } from 'vitest';
import { buttonsOf, PersonBrowser, visibleText } from './person.js';

/**
 * A test agent: the real SDK (`@aauth-ref/agent`) over real HTTP on the stack's fake clock, its
 * traffic recorded, and a person who decides every interaction at the server's own pages over HTTP
 * (`PersonBrowser`): opens `{url}?code={code}`, signs in when asked, clicks the decision.
 */

/** One request the agent sent and the answer it got (headers only; bodies stay with the SDK). */
export interface AgentExchange {
  readonly method: string;
  readonly url: string;
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly status: number;
  readonly headers: Headers;
  /** The response body as text (read from a clone; the SDK reads the original). */
  readonly body: string;
}

export type Decision = 'Approve' | 'Deny' | 'Ignore';

export interface TestAgent {
  readonly agent: Agent;
  readonly store: AgentStore;
  /** Every request the agent sent, in order. */
  readonly exchanges: AgentExchange[];
  /** Every interaction handed to the person, with what they did. */
  readonly interactions: (InteractionPrompt & { decision: Decision })[];
  /** What the person does on the next interaction pages (default `Approve`). */
  decide: Decision;
  /** The person's browser (cookies kept between interactions). */
  readonly browser: PersonBrowser;
  /** The agent's current signing key and agent token (for requests the SDK does not make). */
  credentials(): Promise<{ key: KeyPair; agentToken: string }>;
  /** The cached token of `kind` for `resource`. */
  token(kind: 'person' | 'auth', resource: string): Promise<string | undefined>;
}

export interface Account {
  readonly username: string;
  readonly password: string;
}

export interface TestAgentOptions {
  readonly clock: FakeClock;
  /** Who signs in at an interaction page: one account, or one per server (the prompt's `server`). */
  readonly account: Account | ((prompt: InteractionPrompt) => Account);
  /** Runs instead of the person's decision when `decide` is `Ignore` (e.g. move the clock). */
  readonly onIgnore?: (prompt: InteractionPrompt) => void | Promise<void>;
  readonly agent?: Partial<AgentOptions>;
}

export function createTestAgent(options: TestAgentOptions): TestAgent {
  const { clock } = options;
  const store = createMemoryStore();
  const browser = new PersonBrowser();
  const exchanges: AgentExchange[] = [];
  const interactions: TestAgent['interactions'] = [];

  const test: TestAgent = {
    agent: undefined as unknown as Agent,
    store,
    exchanges,
    interactions,
    decide: 'Approve',
    browser,
    async credentials() {
      await test.agent.whoami();
      const key = await store.read('ephemeral-key');
      const token = await store.read('agent-token');
      if (!key || !token) throw new Error('the agent is not enrolled');
      return { key: importPrivateJwk(key), agentToken: token.agent_token };
    },
    async token(kind, resource) {
      const entry = await store.read(kind === 'auth' ? 'auth-tokens' : 'person-tokens');
      return entry?.[resource]?.token;
    },
  };

  async function onInteraction(prompt: InteractionPrompt): Promise<void> {
    const decision = test.decide;
    interactions.push({ ...prompt, decision });
    if (decision === 'Ignore') {
      await options.onIgnore?.(prompt);
      return;
    }
    const page = await browser.openSignedIn(
      `${prompt.url}?code=${encodeURIComponent(prompt.code)}`,
      typeof options.account === 'function' ? options.account(prompt) : options.account,
    );
    expect(page.url.pathname).toBe('/interaction');
    // The PS's pages say Approve; the resource's consent page says Allow.
    const offered = buttonsOf(page);
    const label =
      decision === 'Approve' && !offered.includes('Approve') && offered.includes('Allow')
        ? 'Allow'
        : decision;
    const after = await browser.submit(page, label);
    if (process.env.E2E_LOG_LEVEL && after.status !== 200)
      console.log('[person]', page.url.href, visibleText(page.html), '→', visibleText(after.html));
    expect(after.status).toBe(200);
    await browser.signOut(new URL(prompt.url).origin);
  }

  (test as { agent: Agent }).agent = createAgent({
    store,
    clock,
    // A wait moves the shared clock (the servers see the interval pass) and yields to the event loop.
    sleep: async (ms) => {
      clock.advance(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      exchanges.push({
        method: init.method ?? 'GET',
        url,
        requestHeaders: { ...((init.headers ?? {}) as Record<string, string>) },
        status: response.status,
        headers: response.headers,
        body: await response.clone().text(),
      });
      return response;
    },
    identifierPolicy: DEV,
    ...(process.env.E2E_LOG_LEVEL
      ? { onEvent: (event) => console.log(`[agent] ${event.step}: ${event.message}`) }
      : {}),
    onInteraction,
    justification: 'Keep my shopping list in my notes.',
    ...options.agent,
  });
  return test;
}

/** The claims of a JWT, unverified (the servers verified it; the test reads what it says). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return decodeJwtUnverified(jwt).payload;
}

/** The `resource-token` parameter of an `AAuth-Requirement` header value. */
export function resourceTokenOf(requirement: string | null): string | undefined {
  return requirement === null ? undefined : /resource-token="([^"]+)"/.exec(requirement)?.[1];
}
