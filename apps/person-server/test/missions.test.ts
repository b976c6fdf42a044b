import { createLocalKeyResolver, DWK, isMissionS256, verifyMissionApproval } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, Browser, ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  type BoundAgent,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  postPending,
  requestAuthToken,
  requestIdOf,
  type TestAgent,
} from './support/token-flow.js';

const agentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const calendar = createTestIssuer({
  dwk: DWK.resource,
  issuer: 'https://calendar.example',
  metadata: { name: 'Example Calendar', scope_descriptions: { 'data.read': 'Read' } },
});
const files = createTestIssuer({ dwk: DWK.resource, issuer: 'https://files.example' });
const keys = createLocalKeyResolver([agentProvider, calendar, files]);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: keys, outboundFetch: async () => ({ status: 200 }) });
});
afterAll(async () => {
  await t?.close();
});

const CAPS = ['interaction', 'clarification'];
const PROPOSAL = {
  description: '# Plan the offsite\n\nBook rooms and <script>alert(1)</script> share the agenda.',
  tools: [
    { name: 'WebSearch', description: 'Search the web' },
    { name: 'SendMail', description: 'Send messages' },
  ],
  resources: [calendar.issuer, files.issuer],
  capabilities: CAPS,
};

function newAgent(): TestAgent {
  return makeAgentToken({ issuer: agentProvider, clock: t.clock, ps: ISSUER });
}

function signedPost(agent: TestAgent, path: string, body: Record<string, unknown>) {
  t.clock.advance(100);
  return sendSigned(t, { method: 'POST', path, key: agent.key, signatureKey: agent.jwt, body });
}

interface Proposed {
  agent: TestAgent;
  pending: string;
  browser: Browser;
  page: LightMyRequestResponse;
}

async function propose(agent = newAgent(), body: Record<string, unknown> = PROPOSAL): Promise<Proposed> {
  const res = await signedPost(agent, '/mission', body);
  expect(res.statusCode).toBe(202);
  const { browser, page } = await openCode(t, codeOf(res));
  expect(page.statusCode).toBe(200);
  return { agent, pending: pathOf(res), browser, page };
}

function stepOf(body: string): string {
  return /name="step" value="([^"]+)"/.exec(body)?.[1] ?? '0';
}

async function decide(p: Proposed, pairs: [string, string][]) {
  return p.browser.postPairs('/interaction/mission', [
    ['_csrf', p.browser.csrf()],
    ['request', requestIdOf(p.page.body)],
    ['step', stepOf(p.page.body)],
    ...pairs,
  ]);
}

interface Approved {
  agent: TestAgent;
  s256: string;
  body: Record<string, unknown>;
  blob: Record<string, unknown>;
  bytes: Uint8Array;
}

async function proposeAndApprove(
  options: { pairs?: [string, string][]; agent?: TestAgent; proposal?: Record<string, unknown> } = {},
): Promise<Approved> {
  const p = await propose(options.agent, options.proposal);
  const decided = await decide(
    p,
    options.pairs ?? [
      ['decision', 'approve'],
      ['description', String((options.proposal ?? PROPOSAL).description)],
      ['tool', 'WebSearch'],
      ['resource', calendar.issuer],
    ],
  );
  expect(decided.statusCode).toBe(200);
  const answer = await poll(t, p.agent, p.pending);
  expect(answer.statusCode).toBe(200);
  const body = answer.json() as Record<string, unknown>;
  const verified = verifyMissionApproval(body as { s256: unknown; mission: unknown });
  return { agent: p.agent, s256: verified.s256, body, blob: verified.blob, bytes: verified.bytes };
}

function personTokenRequest(agent: TestAgent, resource: string, missionS256: string) {
  return signedPost(agent, '/person', { resource, mission_s256: missionS256, capabilities: ['interaction'] });
}

/** Status, body and every header but the ones that differ per response by nature. */
function observable(res: LightMyRequestResponse) {
  const { date: _date, ...headers } = res.headers;
  return { status: res.statusCode, body: res.body, headers };
}

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('mission proposal and approval (§Mission Creation, §Mission Approval)', () => {
  it('publishes mission_endpoint and mission_control_endpoint (§Person Server Metadata)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/aauth-person.json' });
    expect(res.json()).toMatchObject({
      mission_endpoint: `${ISSUER}/mission`,
      mission_control_endpoint: `${ISSUER}/missions`,
    });
  });

  it('refuses an agent that cannot bring the person with 403 user_unreachable', async () => {
    const { capabilities: _c, ...rest } = PROPOSAL;
    const res = await signedPost(newAgent(), '/mission', rest);
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('user_unreachable');
  });

  it('refuses malformed proposals with 400 invalid_request', async () => {
    for (const body of [
      { description: '' },
      { description: 'x', tools: ['WebSearch'] },
      { description: 'x', tools: [{ name: 'A' }] },
      { description: 'x', resources: ['http://files.example/path'] },
    ]) {
      const res = await signedPost(newAgent(), '/mission', { ...body, capabilities: CAPS });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('shows the proposal sanitized with tool and resource checkboxes, and answers exactly { s256, mission, capabilities, person_tokens }', async () => {
    const p = await propose();
    expect(p.page.body).not.toContain('<script>alert(1)</script>');
    expect(p.page.body).toContain('name="tool" value="SendMail" checked');
    expect(p.page.body).toContain(`name="resource" value="${files.issuer}" checked`);
    const expiresAt = new Date(t.clock.now() + 30 * 60_000);
    const expiry = expiresAt.toISOString().slice(0, 16);
    const decided = await decide(p, [
      ['decision', 'approve'],
      ['description', '# Plan the offsite\n\nOnly the calendar.'],
      ['tool', 'WebSearch'],
      ['resource', calendar.issuer],
      ['expires_at', expiry],
    ]);
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, p.agent, p.pending);
    expect(answer.statusCode).toBe(200);
    const body = answer.json();
    expect(Object.keys(body).sort()).toEqual(['capabilities', 'mission', 'person_tokens', 's256']);
    // §Mission Approval: s256 is the SHA-256 of the bytes `mission` decodes to.
    const verified = verifyMissionApproval(body);
    expect(body.mission).not.toContain('=');
    expect(verified.blob).toEqual({
      approver: ISSUER,
      agent: p.agent.claims.sub,
      approved_at: expect.any(String),
      expires_at: `${expiry}:00.000Z`,
      description: '# Plan the offsite\n\nOnly the calendar.',
      approved_tools: [{ name: 'WebSearch', description: 'Search the web' }],
      approved_resources: [calendar.issuer],
    });
    expect(body.capabilities).toEqual(['interaction']);
    // One mission-scoped person token per approved resource, never outliving expires_at.
    expect(Object.keys(body.person_tokens)).toEqual([calendar.issuer]);
    const claims = decodeClaims(body.person_tokens[calendar.issuer]);
    expect(claims.mission_s256).toBe(body.s256);
    expect(claims.aud).toBe(calendar.issuer);
    expect(claims.exp as number).toBeLessThanOrEqual(Date.parse(`${expiry}:00Z`) / 1000);

    // §Mission Identifier: the same bytes are served wherever the mission is shown.
    const blob = await p.browser.get(`/missions/${body.s256}/blob`);
    expect(blob.statusCode).toBe(200);
    expect(Buffer.from(blob.rawPayload).equals(Buffer.from(verified.bytes))).toBe(true);
    const list = await p.browser.get('/missions');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(body.s256);
    expect(list.body).toContain('&quot;approver&quot;:&quot;http://localhost:3001&quot;');
    expect(list.body).toContain('action="/missions/revoke"');
  });

  it('the person may deny: the poll answers 403 denied', async () => {
    const p = await propose();
    const decided = await decide(p, [['decision', 'deny']]);
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, p.agent, p.pending);
    expect(answer.statusCode).toBe(403);
    expect(answer.json().error).toBe('denied');
  });

  it('clarification during the proposal: question, answer, and updated_request on a mission pending URL is 400', async () => {
    const p = await propose();
    const asked = await p.browser.post('/interaction/clarify', {
      _csrf: p.browser.csrf(),
      request: requestIdOf(p.page.body),
      question: 'Which **dates**?',
    });
    expect(asked.statusCode).toBe(303);
    const polled = await poll(t, p.agent, p.pending);
    expect(polled.statusCode).toBe(202);
    expect(polled.json().clarification).toBe('Which **dates**?');
    const bad = await postPending(t, p.agent, p.pending, { action: 'updated_request', resource_token: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('invalid_request');
    const answered = await postPending(t, p.agent, p.pending, {
      action: 'clarification_response',
      clarification_response: 'The **first week** of May.',
    });
    expect(answered.statusCode).toBe(202);
    p.page = await p.browser.get(String(asked.headers.location));
    expect(p.page.body).toContain('The <strong>first week</strong> of May.');
    const decided = await decide(p, [
      ['decision', 'approve'],
      ['description', 'Plan the offsite in the first week of May.'],
    ]);
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, p.agent, p.pending);
    expect(answer.statusCode).toBe(200);
    expect(answer.json().person_tokens).toEqual({});
  });
});

describe('mission-scoped person tokens (§Person Token Endpoint, §Mission Endpoint Errors, §Mission Status Errors)', () => {
  it('issues for the owner, caps exp by expires_at, and refuses an unknown or foreign mission with identical 404s', async () => {
    const expiry = new Date(t.clock.now() + 20 * 60_000).toISOString().slice(0, 16);
    const mission = await proposeAndApprove({
      pairs: [
        ['decision', 'approve'],
        ['description', 'Calendar work.'],
        ['resource', calendar.issuer],
        ['expires_at', expiry],
      ],
    });
    const issued = await personTokenRequest(mission.agent, calendar.issuer, mission.s256);
    expect(issued.statusCode).toBe(200);
    const claims = decodeClaims(issued.json().person_token);
    expect(claims.mission_s256).toBe(mission.s256);
    expect(claims.exp).toBe(Date.parse(`${expiry}:00Z`) / 1000);

    // Another agent of the same person (a different agent altogether).
    const other = await proposeAndApprove();
    const foreign = await personTokenRequest(other.agent, calendar.issuer, mission.s256);
    const unknown = await personTokenRequest(other.agent, calendar.issuer, UNKNOWN);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('mission_not_found');
    expect(observable(foreign)).toEqual(observable(unknown));
  });

  it('an expired mission is terminated as expired for the owner (403) and stays a 404 for others', async () => {
    const expiry = new Date(t.clock.now() + 10 * 60_000).toISOString().slice(0, 16);
    const mission = await proposeAndApprove({
      pairs: [
        ['decision', 'approve'],
        ['description', 'Short work.'],
        ['resource', calendar.issuer],
        ['expires_at', expiry],
      ],
    });
    t.clock.advance(11 * 60_000);
    const agent = newAgentLike(mission.agent);
    const res = await personTokenRequest(agent, calendar.issuer, mission.s256);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'expired',
    });
    const row = await t.prisma.mission.findUnique({ where: { s256: mission.s256 } });
    expect(row).toMatchObject({ status: 'terminated', terminationReason: 'expired' });
    // §Mission Endpoint Errors: a foreign terminated mission is a 404, not a 403.
    const other = await proposeAndApprove();
    const foreign = await personTokenRequest(other.agent, calendar.issuer, mission.s256);
    const unknown = await personTokenRequest(other.agent, calendar.issuer, UNKNOWN);
    expect(foreign.statusCode).toBe(404);
    expect(observable(foreign)).toEqual(observable(unknown));
  });
});

/** The same agent with a fresh agent token (the first one may have expired on the fake clock). */
function newAgentLike(agent: TestAgent): TestAgent {
  return makeAgentToken({
    issuer: agentProvider,
    clock: t.clock,
    ps: ISSUER,
    sub: agent.claims.sub,
    key: agent.key,
  });
}

describe("a mission's own URL (§Mission Update, §Mission Completion, §Mission Endpoint Errors)", () => {
  it('rejects a malformed s256 or a missing or unknown action with 400, an unknown mission with 404', async () => {
    const mission = await proposeAndApprove();
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['/mission/not-a-digest', { action: 'update', description: 'x' }, 400, 'invalid_request'],
      [`/mission/${mission.s256}`, { description: 'x' }, 400, 'invalid_request'],
      [`/mission/${mission.s256}`, { action: 'rename', description: 'x' }, 400, 'invalid_request'],
      [`/mission/${UNKNOWN}`, { action: 'update', description: 'x' }, 404, 'mission_not_found'],
    ];
    for (const [path, body, status, error] of cases) {
      const res = await signedPost(mission.agent, path, body);
      expect(res.statusCode, path).toBe(status);
      expect(res.json().error).toBe(error);
    }
    // Another agent updating this mission: the same 404 as an unknown one.
    const other = await proposeAndApprove();
    const foreign = await signedPost(other.agent, `/mission/${mission.s256}`, {
      action: 'update',
      description: 'x',
    });
    const unknown = await signedPost(other.agent, `/mission/${UNKNOWN}`, {
      action: 'update',
      description: 'x',
    });
    expect(observable(foreign)).toEqual(observable(unknown));
  });

  it('update: returns its own digest, logs it, and leaves the blob and the tokens valid', async () => {
    const mission = await proposeAndApprove();
    const res = await signedPost(mission.agent, `/mission/${mission.s256}`, {
      action: 'update',
      description: '# Hotel unavailable\n\nA comparable property instead.',
    });
    expect(res.statusCode).toBe(200);
    const { s256 } = res.json();
    expect(isMissionS256(s256)).toBe(true);
    expect(s256).not.toBe(mission.s256);
    const entry = await t.prisma.missionLogEntry.findFirst({
      where: { missionS256: mission.s256, kind: 'update' },
    });
    expect(entry?.s256).toBe(s256);
    const row = await t.prisma.mission.findUnique({ where: { s256: mission.s256 } });
    expect(Buffer.from(row!.blob).equals(Buffer.from(mission.bytes))).toBe(true);
    const issued = await personTokenRequest(mission.agent, calendar.issuer, mission.s256);
    expect(issued.statusCode).toBe(200);
  });

  it('completion: deferred while the person reviews, accepted → 200 and terminated as completed', async () => {
    const mission = await proposeAndApprove();
    const res = await signedPost(mission.agent, `/mission/${mission.s256}`, {
      action: 'completion',
      summary: 'Rooms **booked**.',
    });
    expect(res.statusCode).toBe(202);
    const pending = pathOf(res);
    const still = await poll(t, mission.agent, pending);
    expect(still.statusCode).toBe(202);

    const person = new Browser(t);
    await person.signIn(ALICE.username, ALICE.password);
    const list = await person.get('/missions');
    const link = /href="(\/interaction\/requests\/[^"]+)"/.exec(list.body)?.[1];
    expect(link).toBeDefined();
    const page = await person.get(link!);
    expect(page.body).toContain('Rooms <strong>booked</strong>.');
    const accepted = await person.postPairs('/interaction/mission', [
      ['_csrf', person.csrf()],
      ['request', requestIdOf(page.body)],
      ['step', stepOf(page.body)],
      ['decision', 'accept'],
    ]);
    expect(accepted.statusCode).toBe(200);
    const done = await poll(t, mission.agent, pending);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ mission_status: 'terminated', termination_reason: 'completed' });
    const after = await personTokenRequest(mission.agent, calendar.issuer, mission.s256);
    expect(after.statusCode).toBe(403);
    expect(after.json()).toMatchObject({ error: 'mission_terminated', termination_reason: 'completed' });
  });
});

describe('auth tokens under a mission (§Mission Log, §Resource Token Verification)', () => {
  async function missionBound(): Promise<{ mission: Approved; bound: BoundAgent }> {
    const mission = await proposeAndApprove();
    const token = (mission.body.person_tokens as Record<string, string>)[calendar.issuer]!;
    const claims = decodeClaims(token);
    return {
      mission,
      bound: { agent: mission.agent, personToken: { jti: String(claims.jti), sub: String(claims.sub) } },
    };
  }

  it('mission stripping: a resource token whose mission_s256 was removed or altered is invalid_resource_token', async () => {
    const { mission, bound } = await missionBound();
    for (const mission_s256 of [undefined, UNKNOWN]) {
      const { jwt } = mintResourceToken(t, calendar, bound, { claims: { mission_s256 } });
      const res = await requestAuthToken(t, bound.agent, {
        resource_token: jwt,
        capabilities: ['interaction'],
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_resource_token');
    }
    const { jwt } = mintResourceToken(t, calendar, bound, { claims: { mission_s256: mission.s256 } });
    const ok = await requestAuthToken(t, bound.agent, { resource_token: jwt, capabilities: ['interaction'] });
    expect(ok.statusCode).toBe(202);
  });

  it('logs requests with justification and decision, remembers consent within the mission, and revoke ends it', async () => {
    const { mission, bound } = await missionBound();
    const first = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, calendar, bound, { claims: { mission_s256: mission.s256 } }).jwt,
      justification: 'Read the **team** calendar.',
    });
    // No capabilities in the request: the mission's (interaction) apply.
    expect(first.statusCode).toBe(202);
    const { browser, page } = await openCode(t, codeOf(first));
    const approved = await browser.post('/interaction', {
      _csrf: browser.csrf(),
      request: requestIdOf(page.body),
      decision: 'approve',
      step: stepOf(page.body),
    });
    expect(approved.statusCode).toBe(200);
    const answer = await poll(t, bound.agent, pathOf(first));
    expect(answer.statusCode).toBe(200);
    const authClaims = decodeClaims(answer.json().auth_token);
    expect(authClaims.mission_s256).toBe(mission.s256);
    // Consent is remembered within the mission: the same scope again is issued at once.
    const second = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, calendar, bound, { claims: { mission_s256: mission.s256 } }).jwt,
    });
    expect(second.statusCode).toBe(200);
    const log = await t.prisma.missionLogEntry.findMany({
      where: { missionS256: mission.s256, kind: 'token_request' },
      orderBy: { id: 'asc' },
    });
    expect(log.map((e) => (e.detail as { decision: string }).decision)).toEqual([
      'consent_required',
      'approved',
      'issued',
    ]);
    expect((log[0]!.detail as { justification: string }).justification).toBe('Read the **team** calendar.');

    // Revoke on the missions list.
    const list = await browser.get('/missions');
    expect(list.statusCode).toBe(200);
    const revoked = await browser.post('/missions/revoke', { _csrf: browser.csrf(), s256: mission.s256 });
    expect(revoked.statusCode).toBe(303);
    await t.app.revocations.settled();
    const later = await personTokenRequest(bound.agent, calendar.issuer, mission.s256);
    expect(later.statusCode).toBe(403);
    expect(later.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'revoked',
    });
    const tokens = await t.prisma.issuedAuthToken.findMany({ where: { missionS256: mission.s256 } });
    expect(tokens.length).toBe(2);
    expect(tokens.every((row) => row.revokedAt !== null)).toBe(true);
    const shown = await browser.get('/missions');
    expect(shown.body).toContain('terminated (revoked)');
    const again = await browser.post('/missions/revoke', { _csrf: browser.csrf(), s256: mission.s256 });
    expect(again.statusCode).toBe(404);
  });
});
