import { createLocalKeyResolver, DWK, verifyMissionApproval } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ALICE, type Browser, ISSUER, sendSigned, type TestApp } from './app-harness.js';
import { codeOf, openCode, pathOf, poll, requestIdOf, type TestAgent } from './token-flow.js';

/**
 * What the governance endpoint tests share (§Permission Endpoint, §Audit Endpoint, §Interaction
 * Endpoint): an Agent Provider of test agents, missions approved by alice through the pages, and
 * the person's browser on `/governance/{id}`.
 */

export const agentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
export const calendar = createTestIssuer({ dwk: DWK.resource, issuer: 'https://calendar.example' });
export const governanceKeys = createLocalKeyResolver([agentProvider, calendar]);

export const UNKNOWN_MISSION = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export function newAgent(t: TestApp): TestAgent {
  return makeAgentToken({ issuer: agentProvider, clock: t.clock, ps: ISSUER });
}

export function signedPost(t: TestApp, agent: TestAgent, path: string, body: Record<string, unknown>) {
  t.clock.advance(100);
  return sendSigned(t, { method: 'POST', path, key: agent.key, signatureKey: agent.jwt, body });
}

export interface ApprovedMission {
  readonly agent: TestAgent;
  readonly s256: string;
  /** Alice's signed-in browser (a live session: the PS's channel to her). */
  readonly browser: Browser;
}

/** Proposes a mission with the tools `WebSearch` and `SendMail`; the person (alice) approves only `WebSearch`. */
export async function approveMission(
  t: TestApp,
  agent = newAgent(t),
  person: { username: string; password: string } = ALICE,
): Promise<ApprovedMission> {
  const proposed = await signedPost(t, agent, '/mission', {
    description: 'Plan the offsite',
    tools: [
      { name: 'WebSearch', description: 'Search the web' },
      { name: 'SendMail', description: 'Send messages' },
    ],
    capabilities: ['interaction'],
  });
  expect(proposed.statusCode).toBe(202);
  const { browser, page } = await openCode(t, codeOf(proposed), person);
  const decided = await browser.postPairs('/interaction/mission', [
    ['_csrf', browser.csrf()],
    ['request', requestIdOf(page.body)],
    ['step', /name="step" value="([^"]+)"/.exec(page.body)?.[1] ?? '0'],
    ['decision', 'approve'],
    ['description', 'Plan the offsite'],
    ['tool', 'WebSearch'],
  ]);
  expect(decided.statusCode).toBe(200);
  const answer = await poll(t, agent, pathOf(proposed));
  expect(answer.statusCode).toBe(200);
  const { s256 } = verifyMissionApproval(answer.json());
  return { agent, s256, browser };
}

/** The `/governance/{id}` link of the dashboard's "Waiting for you" list (the newest one). */
export async function waitingLinks(browser: Browser): Promise<string[]> {
  const dashboard = await browser.get('/dashboard');
  expect(dashboard.statusCode).toBe(200);
  return [...dashboard.body.matchAll(/href="(\/governance\/[A-Za-z0-9_-]{43})"/g)].map((m) => m[1]!);
}

/** The id of a pending URL (`/pending/{id}` or `/agent-interaction/pending/{id}`). */
export function pendingIdOf(res: LightMyRequestResponse): string {
  return pathOf(res).split('/').at(-1)!;
}

/** Submits the decision form of the page last loaded in `browser`. */
export function decide(browser: Browser, fields: Record<string, string>) {
  return browser.post('/governance/decide', {
    _csrf: browser.csrf(),
    request: requestIdOf(browser.lastBody),
    ...fields,
  });
}

/** Status, body and every header but `date`. */
export function observable(res: LightMyRequestResponse) {
  const { date: _date, ...headers } = res.headers;
  return { status: res.statusCode, body: res.body, headers };
}

/** The mission's log as the PS stores it (kind and detail, in order). */
export async function missionLog(t: TestApp, s256: string) {
  const rows = await t.prisma.missionLogEntry.findMany({
    where: { missionS256: s256 },
    orderBy: { id: 'asc' },
  });
  return rows.map((row) => ({ kind: row.kind, detail: row.detail as Record<string, unknown> }));
}

/** Signs the browser out: the person has no live session at the PS any more. */
export async function signOut(browser: Browser) {
  await browser.get('/dashboard');
  const res = await browser.post('/signout', { _csrf: browser.csrf() });
  expect(res.statusCode).toBe(303);
}
