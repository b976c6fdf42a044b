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
import { buttonsOf, linksOf, type Page, PersonBrowser, visibleText } from './person.js';

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
  /** The request body as text, when there was one. */
  readonly requestBody?: string;
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
  /**
   * Every interaction handed to the person, with what they did; `continuedTo` is the origin a PS page
   * sent them on to (four-party R3: the PS shows `display`, the AS decides), `shown` that page's text.
   */
  readonly interactions: (InteractionPrompt & { decision: Decision; continuedTo?: string; shown?: string })[];
  /** What the person does on the next interaction pages (default `Approve`). */
  decide: Decision;
  /** Who decides elsewhere than over HTTP (`TestAgentOptions.person`); settable between steps. */
  person: TestAgentOptions['person'];
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
  /**
   * Who signs in at an interaction page: one account, or one per server (the prompt's `server`; on a
   * page a PS page continued to, `server` is that page's origin).
   */
  readonly account: Account | ((prompt: InteractionPrompt) => Account);
  /** Runs instead of the person's decision when `decide` is `Ignore` (e.g. move the clock). */
  readonly onIgnore?: (prompt: InteractionPrompt) => void | Promise<void>;
  /**
   * The person's decision made elsewhere (e.g. in Chromium, `ChromiumPerson`) instead of over HTTP
   * with `browser`; called with the account `account` names for the prompt.
   */
  readonly person?: (
    prompt: InteractionPrompt,
    decision: Exclude<Decision, 'Ignore'>,
    account: Account,
  ) => Promise<void>;
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
    person: options.person,
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
    const account = typeof options.account === 'function' ? options.account(prompt) : options.account;
    if (test.person) {
      await test.person(prompt, decision, account);
      return;
    }
    let page = await browser.openSignedIn(`${prompt.url}?code=${encodeURIComponent(prompt.code)}`, account);
    expect(page.url.pathname).toBe('/interaction');
    const origins = [new URL(prompt.url).origin];
    // Four-party R3 (README *Person Server*, four-party display): the PS shows the R3 document and a
    // "Continue to {AS}" link to the AS's own interaction page, where the person decides.
    const onward = decisionLabel(decision, buttonsOf(page)) === undefined ? continueLinkOf(page) : undefined;
    if (onward !== undefined) {
      const server = onward.origin;
      const at = typeof options.account === 'function' ? options.account({ ...prompt, server }) : account;
      interactions[interactions.length - 1] = {
        ...prompt,
        decision,
        continuedTo: server,
        shown: visibleText(page.html),
      };
      page = await browser.openSignedIn(onward, at);
      expect(page.url.pathname).toBe('/interaction');
      origins.push(server);
    }
    const after = await browser.submit(page, decisionLabel(decision, buttonsOf(page)) ?? decision);
    if (process.env.E2E_LOG_LEVEL && after.status !== 200)
      console.log('[person]', page.url.href, visibleText(page.html), '→', visibleText(after.html));
    expect(after.status).toBe(200);
    for (const origin of origins) await browser.signOut(origin, origin === onward?.origin ? '/' : undefined);
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
        ...(typeof init.body === 'string'
          ? { requestBody: init.body }
          : init.body instanceof Uint8Array
            ? { requestBody: Buffer.from(init.body).toString('utf8') }
            : {}),
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

/**
 * The button for `decision` among `offered`: the PS's pages say Approve/Deny, the resource's consent
 * page says Allow, the auth server's binding page says Connect my Person Server/Decline.
 */
function decisionLabel(
  decision: Exclude<Decision, 'Ignore'>,
  offered: readonly string[],
): string | undefined {
  const synonyms =
    decision === 'Approve' ? ['Approve', 'Allow', 'Connect my Person Server'] : ['Deny', 'Decline'];
  return synonyms.find((label) => offered.includes(label));
}

/** The "Continue to {origin}" link of a PS page that sends the person on to another server. */
function continueLinkOf(page: Page): URL | undefined {
  return linksOf(page).find((link) => link.label === `Continue to ${link.href.origin}`)?.href;
}

/** The claims of a JWT, unverified (the servers verified it; the test reads what it says). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return decodeJwtUnverified(jwt).payload;
}

/** The `resource-token` parameter of an `AAuth-Requirement` header value. */
export function resourceTokenOf(requirement: string | null): string | undefined {
  return requirement === null ? undefined : /resource-token="([^"]+)"/.exec(requirement)?.[1];
}
