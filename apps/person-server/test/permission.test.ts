import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approveMission,
  decide,
  governanceKeys,
  missionLog,
  newAgent,
  observable,
  pendingIdOf,
  signedPost,
  UNKNOWN_MISSION,
  waitingLinks,
} from './support/governance-flow.js';
import { codeOf, openCode, pathOf, poll } from './support/token-flow.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: governanceKeys, outboundFetch: async () => ({ status: 200 }) });
});
afterAll(async () => {
  await t?.close();
});

const RISKY = {
  action: 'SendMail',
  description: '# Send the itinerary\n\n<script>alert(1)</script><img src=x onerror=alert(2)> to **Bob**',
  parameters: { to: 'bob@example.com', subject: '<b>Trip</b>' },
};

describe('§Person Server Metadata', () => {
  it('publishes permission_endpoint, audit_endpoint and interaction_endpoint', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/aauth-person.json' });
    expect(res.json()).toMatchObject({
      permission_endpoint: `${ISSUER}/permission`,
      audit_endpoint: `${ISSUER}/audit`,
      interaction_endpoint: `${ISSUER}/agent-interaction`,
    });
  });
});

describe('permission requests (§Permission Endpoint)', () => {
  it('grants a tool of the mission’s approved_tools at once, without asking, and logs request and response (§Mission Log)', async () => {
    const mission = await approveMission(t);
    const before = await waitingLinks(mission.browser);
    const res = await signedPost(t, mission.agent, '/permission', {
      action: 'WebSearch',
      description: 'Look for venues',
      parameters: { query: 'offsite venues' },
      mission_s256: mission.s256,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ permission: 'granted' });
    // Nothing was put to the person.
    expect(await waitingLinks(mission.browser)).toEqual(before);
    const log = await missionLog(t, mission.s256);
    expect(log.slice(-2)).toEqual([
      {
        kind: 'permission_request',
        detail: {
          action: 'WebSearch',
          description: 'Look for venues',
          parameters: { query: 'offsite venues' },
        },
      },
      {
        kind: 'permission_response',
        detail: { action: 'WebSearch', permission: 'granted', decided_by: 'approved_tools' },
      },
    ]);
  });

  it('defers any other action to the person, who approves it on a page with sanitized Markdown (§Deferred Responses)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/permission', { ...RISKY, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(202);
    expect(pathOf(res)).toMatch(/^\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(String(res.headers.location).startsWith(ISSUER)).toBe(true);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.headers['cache-control']).toBe('no-store');
    // §Approval Pending: the PS reaches the person itself; the agent directs no one.
    expect(parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV)).toEqual({
      requirement: 'approval',
    });
    expect(res.json()).toEqual({ status: 'pending' });

    const first = await poll(t, mission.agent, pathOf(res));
    expect(first.statusCode).toBe(202);
    expect(first.json().status).toBe('pending');

    const links = await waitingLinks(mission.browser);
    expect(links).toContain(`/governance/${pendingIdOf(res)}`);
    const page = await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).not.toContain('onerror=alert(2)>');
    expect(page.body).not.toMatch(/<img[^>]*onerror/);
    expect(page.body).toContain('<strong>Bob</strong>');
    expect(page.body).toContain('&lt;b&gt;Trip&lt;/b&gt;');
    expect(page.body).toContain('<code>SendMail</code>');

    const engaged = await poll(t, mission.agent, pathOf(res));
    expect(engaged.statusCode).toBe(202);
    expect(engaged.json().status).toBe('interacting');

    const decided = await decide(mission.browser, { decision: 'approve' });
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ permission: 'granted' });
    const after = await poll(t, mission.agent, pathOf(res));
    expect(after.statusCode).toBe(410);

    const log = await missionLog(t, mission.s256);
    expect(log.slice(-2)).toEqual([
      {
        kind: 'permission_request',
        detail: { ...RISKY, pending_id: pendingIdOf(res) },
      },
      {
        kind: 'permission_response',
        detail: {
          action: 'SendMail',
          permission: 'granted',
          decided_by: 'person',
          pending_id: pendingIdOf(res),
        },
      },
    ]);
  });

  it('answers a denial as 200 {permission: denied, reason} (§Permission Response)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/permission', { ...RISKY, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(202);
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    const decided = await decide(mission.browser, { decision: 'deny', reason: 'Not to **Bob**.' });
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ permission: 'denied', reason: 'Not to **Bob**.' });
    const log = await missionLog(t, mission.s256);
    expect(log.at(-1)).toMatchObject({
      kind: 'permission_response',
      detail: { permission: 'denied', reason: 'Not to **Bob**.', decided_by: 'person' },
    });
  });

  it('refuses a decision without the CSRF token and keeps the request open', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/permission', { ...RISKY, mission_s256: mission.s256 });
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    const forged = await mission.browser.post('/governance/decide', {
      request: pendingIdOf(res),
      decision: 'approve',
    });
    expect(forged.statusCode).toBe(403);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(202);
    expect(answer.json().status).toBe('interacting');
  });

  it('shows another person’s request like an unknown one, and only the requesting agent may poll (§Pending URL Security)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/permission', { ...RISKY, mission_s256: mission.s256 });
    const bob = new Browser(t);
    await bob.signIn('bob', 'bob-demo-password');
    const foreignPage = await bob.get(`/governance/${pendingIdOf(res)}`);
    const unknownPage = await bob.get(`/governance/${'B'.repeat(43)}`);
    expect(foreignPage.statusCode).toBe(404);
    expect(unknownPage.statusCode).toBe(404);

    const other = newAgent(t);
    const foreignPoll = await poll(t, other, pathOf(res));
    const unknownPoll = await poll(t, other, `/pending/${'B'.repeat(43)}`);
    expect(foreignPoll.statusCode).toBe(404);
    expect(foreignPoll.json().error).toBe('not_found');
    expect(foreignPoll.body).toBe(unknownPoll.body);
  });

  it('records a request outside a mission in the governance log and asks the agent’s bound person', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/permission', { action: 'WriteFile' });
    expect(res.statusCode).toBe(202);
    expect(await waitingLinks(mission.browser)).toContain(`/governance/${pendingIdOf(res)}`);
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    await decide(mission.browser, { decision: 'approve' });
    expect((await poll(t, mission.agent, pathOf(res))).json()).toEqual({ permission: 'granted' });
    const rows = await t.prisma.governanceLogEntry.findMany({
      where: { pendingId: pendingIdOf(res) },
      orderBy: { id: 'asc' },
    });
    expect(rows.map((r) => [r.kind, r.detail])).toEqual([
      ['permission_request', { action: 'WriteFile', pending_id: pendingIdOf(res) }],
      [
        'permission_response',
        { action: 'WriteFile', permission: 'granted', decided_by: 'person', pending_id: pendingIdOf(res) },
      ],
    ]);
    expect(rows[0]!.agentSub).toBe(mission.agent.claims.sub);
    expect(await missionLog(t, mission.s256)).not.toContainEqual(
      expect.objectContaining({ detail: expect.objectContaining({ action: 'WriteFile' }) }),
    );
  });

  it('refuses an agent no person is known for that cannot bring one with 403 user_unreachable (§Token Endpoint Error Codes)', async () => {
    const res = await signedPost(t, newAgent(t), '/permission', { action: 'WriteFile' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('user_unreachable');
  });

  it('offers an interaction code when no person is known and the agent declares interaction (§Interaction Required)', async () => {
    const agent = newAgent(t);
    const res = await signedPost(t, agent, '/permission', {
      action: 'WriteFile',
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    const requirement = parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV);
    expect(requirement).toMatchObject({ requirement: 'interaction', url: `${ISSUER}/interaction` });
    const { browser, page } = await openCode(t, codeOf(res));
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe(`/governance/${pendingIdOf(res)}`);
    const review = await browser.get(String(page.headers.location));
    expect(review.statusCode).toBe(200);
    await decide(browser, { decision: 'deny' });
    expect((await poll(t, agent, pathOf(res))).json()).toEqual({ permission: 'denied' });
  });
});

describe('permission errors (§Mission Endpoint Errors, §Mission Status Errors)', () => {
  it('answers an unknown and a foreign mission with identical 404 mission_not_found', async () => {
    const mission = await approveMission(t);
    const other = await approveMission(t);
    const foreign = await signedPost(t, other.agent, '/permission', {
      action: 'WebSearch',
      mission_s256: mission.s256,
    });
    const unknown = await signedPost(t, other.agent, '/permission', {
      action: 'WebSearch',
      mission_s256: UNKNOWN_MISSION,
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('mission_not_found');
    expect(observable(foreign)).toEqual(observable(unknown));
  });

  it('answers the owner’s revoked mission with 403 mission_terminated, mission_status and termination_reason', async () => {
    const mission = await approveMission(t);
    await mission.browser.get('/missions');
    const revoked = await mission.browser.post('/missions/revoke', {
      _csrf: mission.browser.csrf(),
      s256: mission.s256,
    });
    expect(revoked.statusCode).toBe(303);
    const res = await signedPost(t, mission.agent, '/permission', {
      action: 'WebSearch',
      mission_s256: mission.s256,
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'revoked',
    });
  });

  it('refuses malformed requests with 400 invalid_request (§Permission Request)', async () => {
    const agent = newAgent(t);
    for (const body of [
      {},
      { action: '' },
      { action: 42 },
      { action: 'X', description: 7 },
      { action: 'X', parameters: ['a'] },
      { action: 'X', mission_s256: 'not-a-digest' },
    ]) {
      const res = await signedPost(t, agent, '/permission', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('rejects an unsigned request with 401 Signature-Error (§Permission Request: MUST include an HTTP Sig)', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/permission',
      headers: { host: 'localhost:3001', 'content-type': 'application/json' },
      payload: JSON.stringify({ action: 'WebSearch' }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBeDefined();
  });

  it('refuses a request not signed with an agent token (hwk) with 401 unsupported_scheme', async () => {
    const agent = newAgent(t);
    t.clock.advance(100);
    const { kid: _kid, ...jwk } = agent.key.jwk;
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/permission',
      key: agent.key,
      signatureKey: { scheme: 'hwk', jwk: jwk as Record<string, string> },
      body: { action: 'WebSearch' },
    });
    expect(res.statusCode).toBe(401);
    expect(String(res.headers['signature-error'])).toContain('unsupported_scheme');
  });
});
