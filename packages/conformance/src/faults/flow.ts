import { randomBytes } from 'node:crypto';
import { DEV, type KeyPair, parseAAuthRequirement } from '@aauth-ref/core';
import { DEMO_PERSONS } from '@aauth-ref/person-server/seed';
import { makeKeyPair, signedFetch, type TestAgentProvider } from '@aauth-ref/testkit';
// The person's browser over plain HTTP (cookies, CSRF field, redirects) from the end-to-end suite:
// the same clicks, so both suites exercise the consent POST identically.
import { PersonBrowser } from '../../../e2e/test/support/person.js';

/**
 * The three-party flow over real HTTP against server processes (§Three-Party Flow): an agent of a
 * loopback test Agent Provider, a person who signs in at the PS and approves, signed requests with
 * the system clock. Each step returns what the fault scripts assert on (status, headers, timing).
 */

export interface Account {
  readonly username: string;
  readonly password: string;
}

/** The PS's demo person (seeded in dev mode, passwords in the README). */
export const ALICE: Account = DEMO_PERSONS[0]!;

export interface FlowAgent {
  readonly key: KeyPair;
  readonly sub: string;
  readonly ps: string;
  readonly agentToken: string;
  /** The agent token's `exp`, ms since the epoch. */
  readonly expiresAt: number;
}

function mintFlowAgent(
  ap: TestAgentProvider,
  identity: Pick<FlowAgent, 'key' | 'sub' | 'ps'>,
  lifetimeSeconds: number,
) {
  const expiresAt = Date.now() + lifetimeSeconds * 1000;
  const agentToken = ap.mintAgentToken({
    cnf: identity.key,
    ps: identity.ps,
    sub: identity.sub,
    lifetimeSeconds,
  });
  return { ...identity, agentToken, expiresAt };
}

/** A fresh agent key with an agent token of `ap` naming `ps` as its Person Server. */
export function createFlowAgent(ap: TestAgentProvider, ps: string, lifetimeSeconds = 3600): FlowAgent {
  // A distinct agent per call: the PS binds agents to persons by `sub`.
  const sub = `aauth:agent-${randomBytes(6).toString('hex')}@${new URL(ap.issuer).host}`;
  return mintFlowAgent(ap, { key: makeKeyPair(), sub, ps }, lifetimeSeconds);
}

/**
 * The same agent (key and `sub`, so its binding at the PS holds) with a new agent token from its
 * Agent Provider, as an agent renews before `exp`.
 */
export function renewFlowAgent(ap: TestAgentProvider, agent: FlowAgent, lifetimeSeconds: number): FlowAgent {
  return mintFlowAgent(ap, agent, lifetimeSeconds);
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

export interface SendInit {
  readonly method?: string;
  readonly body?: Record<string, unknown>;
  readonly token?: string;
  readonly timeoutMs?: number;
}

/** How a flow sends its signed requests (`send`, or a wrapper that records or paces them). */
export type Sender = (url: string, agent: FlowAgent, init?: SendInit) => Promise<Answer>;

/**
 * What the multi-step flows below may be given: another sender, and the person's browser (signed in
 * at the PS once and reused, as a person's own browser is; default: a new one per consent).
 */
export interface FlowOptions {
  readonly send?: Sender;
  readonly browser?: PersonBrowser;
}

/** One signed request; `token` is the JWT in `Signature-Key` (agent, person or auth token). */
export async function send(url: string, agent: FlowAgent, init: SendInit = {}): Promise<Answer> {
  const res = await signedFetchWithTimeout(url, agent, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function signedFetchWithTimeout(url: string, agent: FlowAgent, init: SendInit): Promise<Response> {
  // signedFetch has no abort signal; a bounded wait turns a hang into a recorded failure.
  const timeoutMs = init.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      signedFetch(url, {
        method: init.method ?? 'GET',
        key: agent.key,
        signatureKey: init.token ?? agent.agentToken,
        ...(init.body === undefined ? {} : { body: init.body }),
      }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function jsonOf(answer: Answer): Record<string, unknown> {
  try {
    return JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The pending URL (`Location`) and interaction code of a `202` from the PS. */
export function pendingOf(answer: Answer, base: string): { url: string; code: string | undefined } {
  const location = answer.headers.get('location');
  if (answer.status !== 202 || location === null)
    throw new Error(`expected 202 with Location, got ${answer.status} ${answer.body}`);
  const requirement = parseAAuthRequirement(answer.headers.get('aauth-requirement') ?? undefined, DEV);
  const code = requirement?.requirement === 'interaction' ? requirement.code : undefined;
  return { url: new URL(location, base).href, code };
}

/** The resource token of a `401` (or `202`) `requirement=auth-token`. */
export function resourceTokenOf(answer: Answer): string {
  const requirement = parseAAuthRequirement(answer.headers.get('aauth-requirement') ?? undefined, DEV);
  if (requirement?.requirement !== 'auth-token')
    throw new Error(`expected requirement=auth-token, got ${answer.status} ${answer.body}`);
  return requirement['resource-token'];
}

/** The person opens `{ps}/interaction?code=…`, signs in if asked, and clicks Approve (CSRF included). */
export async function approveAtPs(
  ps: string,
  code: string,
  account: Account = ALICE,
  browser = new PersonBrowser(),
): Promise<number> {
  const page = await browser.openSignedIn(`${ps}/interaction?code=${encodeURIComponent(code)}`, account);
  if (page.url.pathname !== '/interaction') throw new Error(`interaction page not shown: ${page.url.href}`);
  const after = await browser.submit(page, 'Approve');
  return after.status;
}

/** Waits the `Retry-After` an answer asked for (§Deferred Responses: polling sooner earns 429). */
export function waitRetryAfter(answer: Answer): Promise<void> {
  const seconds = Number(answer.headers.get('retry-after') ?? '1');
  return new Promise((resolve) => setTimeout(resolve, (Number.isFinite(seconds) ? seconds : 1) * 1000));
}

/** Polls a pending URL until it answers neither `202` nor `429`, waiting `Retry-After` between polls. */
export async function pollUntilDone(
  url: string,
  agent: FlowAgent,
  options: { maxWaitMs?: number; send?: Sender } = {},
): Promise<{ final: Answer; polls: Answer[] }> {
  const polls: Answer[] = [];
  const deadline = Date.now() + (options.maxWaitMs ?? 60_000);
  const sender = options.send ?? send;
  for (;;) {
    const answer = await sender(url, agent);
    polls.push(answer);
    if ((answer.status !== 202 && answer.status !== 429) || Date.now() > deadline)
      return { final: answer, polls };
    await waitRetryAfter(answer);
  }
}

/** A person token for `resource` from `ps`, the person approving the binding at the PS. */
export async function obtainPersonToken(
  ps: string,
  resource: string,
  agent: FlowAgent,
  options: FlowOptions = {},
): Promise<string> {
  const sender = options.send ?? send;
  const asked = await sender(`${ps}/person`, agent, {
    method: 'POST',
    body: { resource, capabilities: ['interaction'] },
  });
  if (asked.status === 200) return String(jsonOf(asked).person_token);
  const pending = pendingOf(asked, ps);
  if (pending.code === undefined) throw new Error('no interaction code on the pending person token');
  const decided = await approveAtPs(ps, pending.code, ALICE, options.browser);
  if (decided !== 200) throw new Error(`consent answered ${decided}`);
  const { final } = await pollUntilDone(pending.url, agent, { send: sender });
  const token = jsonOf(final).person_token;
  if (typeof token !== 'string') throw new Error(`no person token: ${final.status} ${final.body}`);
  return token;
}

/**
 * An auth token for a resource call: the call with the person token earns `requirement=auth-token`,
 * the resource token goes to the PS's `/token`; a `202` is approved by the person, then polled.
 */
export async function obtainAuthToken(
  ps: string,
  resourceUrl: string,
  agent: FlowAgent,
  personToken: string,
  init: { method?: string; body?: Record<string, unknown> } = {},
  options: FlowOptions = {},
): Promise<string> {
  const sender = options.send ?? send;
  const challenge = await sender(resourceUrl, agent, { ...init, token: personToken });
  const resourceToken = resourceTokenOf(challenge);
  const asked = await sender(`${ps}/token`, agent, {
    method: 'POST',
    body: { resource_token: resourceToken, capabilities: ['interaction'] },
  });
  if (asked.status === 200) return String(jsonOf(asked).auth_token);
  const pending = pendingOf(asked, ps);
  if (pending.code !== undefined) {
    const decided = await approveAtPs(ps, pending.code, ALICE, options.browser);
    if (decided !== 200) throw new Error(`consent answered ${decided}`);
  }
  const { final } = await pollUntilDone(pending.url, agent, { send: sender });
  const token = jsonOf(final).auth_token;
  if (typeof token !== 'string') throw new Error(`no auth token: ${final.status} ${final.body}`);
  return token;
}
