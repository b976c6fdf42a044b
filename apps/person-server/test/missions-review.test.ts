import { createLocalKeyResolver, DWK, isMissionS256, verifyMissionApproval } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MISSION_FAILURE_LIMIT,
  MISSION_FAILURE_WINDOW_SECONDS,
} from '../src/services/mission-failure-throttle.js';
import { ALICE, Browser, ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  codeOf,
  openCode,
  pathOf,
  poll,
  postPending,
  requestIdOf,
  type TestAgent,
} from './support/token-flow.js';

/**
 * The mission items that need more than one request: repeated failures at a mission's own URL
 * (§Mission Endpoint Errors), clarification during completion (§Mission Completion), and updates the
 * PS leaves to the person (§Mission Update, §Incremental Consent).
 */

const agentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const calendar = createTestIssuer({ dwk: DWK.resource, issuer: 'https://calendar.example' });
const keys = createLocalKeyResolver([agentProvider, calendar]);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: keys, outboundFetch: async () => ({ status: 200 }) });
});
afterAll(async () => {
  await t?.close();
});

const CAPS = ['interaction', 'clarification'];
const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function newAgent(like?: TestAgent): TestAgent {
  return makeAgentToken({
    issuer: agentProvider,
    clock: t.clock,
    ps: ISSUER,
    ...(like ? { sub: like.claims.sub, key: like.key } : {}),
  });
}

function signedPost(agent: TestAgent, path: string, body: Record<string, unknown>) {
  // A new `created` second each time: identical requests must not be taken for replays.
  t.clock.advance(1000);
  return sendSigned(t, { method: 'POST', path, key: agent.key, signatureKey: agent.jwt, body });
}

function stepOf(body: string): string {
  return /name="step" value="([^"]+)"/.exec(body)?.[1] ?? '0';
}

interface Approved {
  agent: TestAgent;
  s256: string;
}

async function approvedMission(agent = newAgent()): Promise<Approved> {
  const res = await signedPost(agent, '/mission', {
    description: 'Plan the **offsite**.',
    resources: [calendar.issuer],
    capabilities: CAPS,
  });
  expect(res.statusCode).toBe(202);
  const { browser, page } = await openCode(t, codeOf(res));
  const decided = await browser.postPairs('/interaction/mission', [
    ['_csrf', browser.csrf()],
    ['request', requestIdOf(page.body)],
    ['step', stepOf(page.body)],
    ['decision', 'approve'],
    ['description', 'Plan the **offsite**.'],
    ['resource', calendar.issuer],
  ]);
  expect(decided.statusCode).toBe(200);
  const answer = await poll(t, agent, pathOf(res));
  expect(answer.statusCode).toBe(200);
  return { agent, s256: verifyMissionApproval(answer.json()).s256 };
}

function update(agent: TestAgent, s256: string, description = 'Moved to **Tuesday**.') {
  return signedPost(agent, `/mission/${s256}`, { action: 'update', description });
}

/** The person's side of a review the PS shows under *Waiting for you* on `/missions`. */
async function openWaiting(missionS256: string): Promise<{ person: Browser; page: LightMyRequestResponse }> {
  const person = new Browser(t);
  await person.signIn(ALICE.username, ALICE.password);
  const list = await person.get('/missions');
  const link = new RegExp(
    `href="(/interaction/requests/[^"]+)">Review the \\w+ of mission <code>${missionS256}`,
  ).exec(list.body)?.[1];
  expect(link).toBeDefined();
  const page = await person.get(link!);
  expect(page.statusCode).toBe(200);
  return { person, page };
}

function decideReview(person: Browser, page: LightMyRequestResponse, decision: string) {
  return person.postPairs('/interaction/mission', [
    ['_csrf', person.csrf()],
    ['request', requestIdOf(page.body)],
    ['step', stepOf(page.body)],
    ['decision', decision],
  ]);
}

async function logKinds(s256: string): Promise<string[]> {
  const rows = await t.prisma.missionLogEntry.findMany({
    where: { missionS256: s256 },
    orderBy: { id: 'asc' },
  });
  return rows.map((row) => row.kind);
}

describe('§Mission Endpoint Errors: repeated failures are rate-limited and security-logged', () => {
  it(`after ${MISSION_FAILURE_LIMIT} failures (400 and 404, unknown and foreign alike) the agent gets 429 slow_down with Retry-After`, async () => {
    const mine = await approvedMission();
    const other = await approvedMission();
    const failures: [string, Record<string, unknown>, number][] = [
      ['/mission/not-a-digest', { action: 'update', description: 'x' }, 400],
      [`/mission/${mine.s256}`, { description: 'x' }, 400],
      [`/mission/${mine.s256}`, { action: 'rename' }, 400],
      [`/mission/${UNKNOWN}`, { action: 'update', description: 'x' }, 404],
      // Another agent's mission: the same 404, from the same lookup, counted the same way.
      [`/mission/${other.s256}`, { action: 'update', description: 'x' }, 404],
    ];
    for (let i = 0; i < MISSION_FAILURE_LIMIT; i++) {
      const [path, body, status] = failures[i % failures.length]!;
      const res = await signedPost(mine.agent, path, body);
      expect(res.statusCode, `failure ${i + 1}`).toBe(status);
    }
    // Even a valid request is refused now, before anything is looked up.
    const throttled = await update(mine.agent, mine.s256);
    expect(throttled.statusCode).toBe(429);
    expect(throttled.json().error).toBe('slow_down');
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(MISSION_FAILURE_WINDOW_SECONDS);
    expect(throttled.headers['signature-error']).toBeUndefined();
    // A malformed request from a throttled agent is the same 429: nothing more is learned.
    const malformed = await signedPost(mine.agent, '/mission/not-a-digest', { action: 'update' });
    expect(malformed.statusCode).toBe(429);

    // Logged once as a security event, with the agent and without any mission reference.
    const events = await t.prisma.securityEvent.findMany({ where: { event: 'mission.failures_throttled' } });
    const ours = events.filter(
      (e) => (e.detail as { agent_sub: string }).agent_sub === mine.agent.claims.sub,
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]!.detail).toMatchObject({
      agent_iss: agentProvider.issuer,
      failures: MISSION_FAILURE_LIMIT,
      window_seconds: MISSION_FAILURE_WINDOW_SECONDS,
    });
    const logged = JSON.stringify(ours[0]!.detail);
    expect(logged).not.toContain(other.s256);
    expect(logged).not.toContain(UNKNOWN);
    // The count is stored per agent only (shared by every instance), never the missions asked for.
    const rows = await t.prisma.rateLimitAttempt.findMany({ where: { scope: 'mission_failure' } });
    expect(rows.some((row) => row.key.includes(mine.agent.claims.sub))).toBe(true);
    expect(rows.every((row) => !row.key.includes(other.s256) && !row.key.includes(UNKNOWN))).toBe(true);

    // Another agent is unaffected.
    const unaffected = await update(other.agent, other.s256);
    expect(unaffected.statusCode).toBe(200);

    // Once the window has passed (fake clock), the agent is allowed again.
    t.clock.advance(retryAfter * 1000);
    const again = await update(newAgent(mine.agent), mine.s256);
    expect(again.statusCode).toBe(200);
    expect(isMissionS256(again.json().s256)).toBe(true);
  });

  it('successes do not count towards the limit', async () => {
    const mine = await approvedMission();
    for (let i = 0; i < MISSION_FAILURE_LIMIT - 1; i++) {
      expect((await update(mine.agent, UNKNOWN)).statusCode).toBe(404);
    }
    for (let i = 0; i < 3; i++) {
      expect((await update(mine.agent, mine.s256)).statusCode).toBe(200);
    }
    // One failure left before the limit: this one reaches it, the next request is refused.
    expect((await update(mine.agent, UNKNOWN)).statusCode).toBe(404);
    expect((await update(mine.agent, mine.s256)).statusCode).toBe(429);
    // Do not leave a throttled agent behind for other tests.
    t.clock.advance(MISSION_FAILURE_WINDOW_SECONDS * 1000);
  });
});

describe('§Mission Completion: clarification during the completion review', () => {
  it('the person asks, the poll carries requirement=clarification, the agent answers, the person accepts → completed', async () => {
    const mission = await approvedMission();
    const res = await signedPost(mission.agent, `/mission/${mission.s256}`, {
      action: 'completion',
      summary: 'Rooms **booked**.',
    });
    expect(res.statusCode).toBe(202);
    const pending = pathOf(res);
    const { person, page } = await openWaiting(mission.s256);
    expect(page.body).toContain('Keep it open');
    const asked = await person.post('/interaction/clarify', {
      _csrf: person.csrf(),
      request: requestIdOf(page.body),
      question: 'Which **rooms**?',
    });
    expect(asked.statusCode).toBe(303);

    const polled = await poll(t, mission.agent, pending);
    expect(polled.statusCode).toBe(202);
    expect(polled.headers['aauth-requirement']).toBe('requirement=clarification');
    expect(polled.json().clarification).toBe('Which **rooms**?');
    const answered = await postPending(t, mission.agent, pending, {
      action: 'clarification_response',
      clarification_response: 'The <em>two</em> on the **third floor**.<script>alert(1)</script>',
    });
    expect(answered.statusCode).toBe(202);

    const reviewed = await person.get(String(asked.headers.location));
    expect(reviewed.body).toContain('<strong>third floor</strong>');
    expect(reviewed.body).not.toContain('<script>alert(1)</script>');
    const accepted = await decideReview(person, reviewed, 'accept');
    expect(accepted.statusCode).toBe(200);
    const done = await poll(t, mission.agent, pending);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ mission_status: 'terminated', termination_reason: 'completed' });
    // §Mission Log: the chat is part of the record, before the termination.
    expect((await logKinds(mission.s256)).slice(-3)).toEqual([
      'completion_proposed',
      'clarification',
      'terminated',
    ]);
  });

  it('the person asks and then keeps it open: the poll answers 403 denied and the mission stays active', async () => {
    const mission = await approvedMission();
    const res = await signedPost(mission.agent, `/mission/${mission.s256}`, {
      action: 'completion',
      summary: 'All done.',
    });
    const pending = pathOf(res);
    const { person, page } = await openWaiting(mission.s256);
    const asked = await person.post('/interaction/clarify', {
      _csrf: person.csrf(),
      request: requestIdOf(page.body),
      question: 'Did you send the agenda?',
    });
    expect(asked.statusCode).toBe(303);
    const polled = await poll(t, mission.agent, pending);
    expect(polled.json().clarification).toBe('Did you send the agenda?');
    await postPending(t, mission.agent, pending, {
      action: 'clarification_response',
      clarification_response: 'Not yet.',
    });
    const reviewed = await person.get(String(asked.headers.location));
    const declined = await decideReview(person, reviewed, 'decline');
    expect(declined.statusCode).toBe(200);
    expect(declined.body).toContain('stays active');

    const answer = await poll(t, mission.agent, pending);
    expect(answer.statusCode).toBe(403);
    expect(answer.json().error).toBe('denied');
    const row = await t.prisma.mission.findUnique({ where: { s256: mission.s256 } });
    expect(row).toMatchObject({ status: 'active', terminationReason: null });
    expect((await logKinds(mission.s256)).slice(-2)).toEqual(['clarification', 'completion_declined']);
    // The agent keeps working under the mission.
    const later = await update(mission.agent, mission.s256);
    expect(later.statusCode).toBe(200);
  });
});

describe('§Mission Update: updates the PS leaves to the person', () => {
  it('an update that names only approved resources (or none) is accepted at once', async () => {
    const mission = await approvedMission();
    const res = await update(mission.agent, mission.s256, `Also read ${calendar.issuer}/team for dates.`);
    expect(res.statusCode).toBe(200);
    expect(isMissionS256(res.json().s256)).toBe(true);
  });

  it('an update naming an unapproved server is deferred; the person sees the whole picture and accepts → 200 {s256}', async () => {
    const mission = await approvedMission();
    const first = await update(mission.agent, mission.s256, 'Rooms moved to **Tuesday**.');
    expect(first.statusCode).toBe(200);
    const res = await update(
      mission.agent,
      mission.s256,
      'Also send the invites through https://mail.example.',
    );
    expect(res.statusCode).toBe(202);
    expect(res.headers['cache-control']).toBe('no-store');
    const pending = pathOf(res);
    const still = await poll(t, mission.agent, pending);
    expect(still.statusCode).toBe(202);

    const { person, page } = await openWaiting(mission.s256);
    // §Incremental Consent: the approved description and the updates already accepted, not the increment alone.
    expect(page.body).toContain('https://mail.example');
    expect(page.body).toContain('Plan the <strong>offsite</strong>.');
    expect(page.body).toContain('Rooms moved to <strong>Tuesday</strong>.');
    const accepted = await decideReview(person, page, 'accept');
    expect(accepted.statusCode).toBe(200);

    const answer = await poll(t, mission.agent, pending);
    expect(answer.statusCode).toBe(200);
    const { s256 } = answer.json();
    expect(isMissionS256(s256)).toBe(true);
    const entry = await t.prisma.missionLogEntry.findFirst({ where: { missionS256: mission.s256, s256 } });
    expect(entry).toMatchObject({ kind: 'update', detail: { accepted_by: 'person' } });
    // The blob and mission_s256 never change.
    const row = await t.prisma.mission.findUnique({ where: { s256: mission.s256 } });
    expect(row?.status).toBe('active');
  });

  it('declined by the person: the poll answers 403 denied, nothing is appended as accepted', async () => {
    const mission = await approvedMission();
    const res = await update(mission.agent, mission.s256, 'Also pay at https://pay.example.');
    expect(res.statusCode).toBe(202);
    const { person, page } = await openWaiting(mission.s256);
    const declined = await decideReview(person, page, 'decline');
    expect(declined.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(403);
    expect(answer.json().error).toBe('denied');
    const kinds = await logKinds(mission.s256);
    expect(kinds).not.toContain('update');
    expect(kinds.slice(-2)).toEqual(['update_proposed', 'update_declined']);
  });
});
