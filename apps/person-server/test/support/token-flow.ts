import { DEV, parseAAuthRequirement, type ResourceTokenClaims } from '@aauth-ref/core';
import { makeAgentToken, makeResourceToken, type TestIssuer } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { ALICE, Browser, ISSUER, sendSigned, type TestApp } from './app-harness.js';

/**
 * A three-party flow against the PS under test: an agent of another AP, bound to alice and holding
 * a person token for the resource, asks `/token` with a resource token the test mints.
 */

export type TestAgent = ReturnType<typeof makeAgentToken>;

export interface BoundAgent {
  readonly agent: TestAgent;
  /** Claims of the person token the PS issued (its `jti` and `sub` go into resource tokens). */
  readonly personToken: { jti: string; sub: string; tenant?: string };
}

export function codeOf(res: LightMyRequestResponse): string {
  return (parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV) as { code: string }).code;
}

export function pathOf(res: LightMyRequestResponse): string {
  return new URL(String(res.headers.location)).pathname;
}

export function requestIdOf(body: string): string {
  const match = /name="request" value="([^"]+)"/.exec(body);
  if (!match) throw new Error('no request field on the page');
  return match[1]!;
}

/** A person opens the code: signs in and loads the interaction page. */
export async function openCode(t: TestApp, code: string, person = ALICE) {
  const browser = new Browser(t);
  await browser.signIn(person.username, person.password);
  const page = await browser.get(`/interaction?code=${code}`);
  return { browser, page };
}

export async function approve(browser: Browser, page: LightMyRequestResponse) {
  return browser.post('/interaction', {
    _csrf: browser.csrf(),
    request: requestIdOf(page.body),
    decision: 'approve',
    ...stepOf(page.body),
  });
}

function stepOf(body: string): Record<string, string> {
  const match = /name="step" value="([^"]+)"/.exec(body);
  return match ? { step: match[1]! } : {};
}

/** Polls a pending URL (after the Retry-After interval has passed on the fake clock). */
export function poll(t: TestApp, agent: TestAgent, path: string) {
  t.clock.advance(2000);
  return sendSigned(t, { method: 'GET', path, key: agent.key, signatureKey: agent.jwt });
}

export function postPending(t: TestApp, agent: TestAgent, path: string, body: Record<string, unknown>) {
  t.clock.advance(100);
  return sendSigned(t, { method: 'POST', path, key: agent.key, signatureKey: agent.jwt, body });
}

/** Binds a fresh agent of `ap` to alice and obtains a person token for `resource`. */
export async function bindAgentWithPersonToken(
  t: TestApp,
  ap: TestIssuer,
  resource: string,
): Promise<BoundAgent> {
  const agent = makeAgentToken({ issuer: ap, clock: t.clock, ps: ISSUER });
  t.clock.advance(100);
  const res = await sendSigned(t, {
    method: 'POST',
    path: '/person',
    key: agent.key,
    signatureKey: agent.jwt,
    body: { resource, capabilities: ['interaction'] },
  });
  if (res.statusCode !== 202) throw new Error(`person token request: ${res.statusCode} ${res.body}`);
  const { browser, page } = await openCode(t, codeOf(res));
  const decided = await approve(browser, page);
  if (decided.statusCode !== 200) throw new Error(`person token consent: ${decided.statusCode}`);
  const answer = await poll(t, agent, pathOf(res));
  const token = answer.json().person_token as string;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
  return { agent, personToken: { jti: claims.jti, sub: claims.sub, tenant: claims.tenant } };
}

/**
 * Puts the bound agent's person token under a fresh active mission of alice's expiring in `seconds`,
 * written straight to the database: the mission flow itself is covered by missions.test.ts.
 */
export async function underMission(t: TestApp, bound: BoundAgent, seconds: number): Promise<string> {
  const s256 = `mission-${Math.random().toString(36).slice(2)}`;
  const person = await t.prisma.person.findFirstOrThrow({ where: { username: ALICE.username } });
  const now = t.clock.now();
  await t.prisma.mission.create({
    data: {
      s256,
      blob: Buffer.from('{}'),
      agentIss: bound.agent.claims.iss,
      agentSub: bound.agent.claims.sub,
      personId: person.id,
      status: 'active',
      approvedAt: new Date(now),
      expiresAt: new Date(now + seconds * 1000),
      description: 'test mission',
    },
  });
  await t.prisma.personTokenRecord.update({
    where: { jti: bound.personToken.jti },
    data: { missionS256: s256 },
  });
  return s256;
}

export function mintResourceToken(
  t: TestApp,
  resource: TestIssuer,
  bound: BoundAgent,
  options: { scope?: string; claims?: Record<string, unknown> } = {},
): { jwt: string; claims: ResourceTokenClaims } {
  const { personToken } = bound;
  return makeResourceToken({
    issuer: resource,
    clock: t.clock,
    aud: ISSUER,
    ps: ISSUER,
    sub: personToken.sub,
    presented_jti: personToken.jti,
    agentKey: bound.agent.key,
    scope: options.scope ?? 'data.read data.write',
    claims: { ...(personToken.tenant ? { tenant: personToken.tenant } : {}), ...options.claims },
  });
}

export function requestAuthToken(t: TestApp, agent: TestAgent, body: Record<string, unknown>) {
  t.clock.advance(100);
  return sendSigned(t, { method: 'POST', path: '/token', key: agent.key, signatureKey: agent.jwt, body });
}

export function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}
