import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOB, ISSUER, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approveMission,
  calendar,
  decide,
  governanceKeys,
  missionLog,
  newAgent,
  observable,
  pendingIdOf,
  signedPost,
  signOut,
  UNKNOWN_MISSION,
  waitingLinks,
} from './support/governance-flow.js';
import { approve, pathOf, poll } from './support/token-flow.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: governanceKeys, outboundFetch: async () => ({ status: 200 }) });
});
afterAll(async () => {
  await t?.close();
});

const RELAY = {
  type: 'interaction',
  description: 'The booking service needs you to **confirm** <script>alert(1)</script>',
  url: 'https://booking.example/confirm',
  code: 'X7K2-M9P4',
};

const ENDPOINT = '/agent-interaction';

describe('relaying an interaction (§Interaction Endpoint, §Relaying Through the Person Server)', () => {
  it('relays url and code to the signed-in person: pending → interacting → done (§Interaction Response)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, { ...RELAY, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(202);
    expect(pathOf(res)).toMatch(/^\/agent-interaction\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['retry-after']).toBeDefined();
    expect(parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV)).toEqual({
      requirement: 'approval',
    });
    expect(res.json()).toEqual({ status: 'pending' });

    const first = await poll(t, mission.agent, pathOf(res));
    expect(first.statusCode).toBe(202);
    expect(first.json().status).toBe('pending');

    expect(await waitingLinks(mission.browser)).toContain(`/governance/${pendingIdOf(res)}`);
    const page = await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('href="https://booking.example/confirm?code=X7K2-M9P4"');
    expect(page.body).toContain('<strong>confirm</strong>');
    expect(page.body).not.toContain('<script>alert(1)</script>');

    const engaged = await poll(t, mission.agent, pathOf(res));
    expect(engaged.statusCode).toBe(202);
    expect(engaged.json().status).toBe('interacting');

    const done = await decide(mission.browser, { decision: 'done' });
    expect(done.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ relay: 'done' });
    expect((await poll(t, mission.agent, pathOf(res))).statusCode).toBe(410);

    const log = await missionLog(t, mission.s256);
    const id = pendingIdOf(res);
    expect(log.slice(-3)).toEqual([
      {
        kind: 'interaction_request',
        detail: { type: 'interaction', description: RELAY.description, url: RELAY.url, pending_id: id },
      },
      { kind: 'interaction_response', detail: { type: 'interaction', outcome: 'engaged', pending_id: id } },
      { kind: 'interaction_response', detail: { type: 'interaction', outcome: 'done', pending_id: id } },
    ]);
    // The code correlates the person's browser at the resource: it is not written to the log.
    expect(JSON.stringify(log)).not.toContain('X7K2-M9P4');
  });

  it('answers 403 denied when the person declines the relay (§Polling Error Codes)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, { ...RELAY, type: 'payment' });
    expect(res.statusCode).toBe(202);
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    const declined = await decide(mission.browser, { decision: 'decline' });
    expect(declined.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(403);
    expect(answer.json().error).toBe('denied');
  });

  it('resolves at max_wait: 200 {relay: engaged} once the person engaged, 408 expired otherwise', async () => {
    const mission = await approveMission(t);
    const engagedRelay = await signedPost(t, mission.agent, ENDPOINT, { ...RELAY, max_wait: 60 });
    const idleRelay = await signedPost(t, mission.agent, ENDPOINT, {
      ...RELAY,
      code: 'A1B2-C3D4',
      max_wait: 60,
    });
    await mission.browser.get(`/governance/${pendingIdOf(engagedRelay)}`);
    const before = await poll(t, mission.agent, pathOf(engagedRelay));
    expect(before.json().status).toBe('interacting');
    t.clock.advance(60_000);
    const engaged = await poll(t, mission.agent, pathOf(engagedRelay));
    expect(engaged.statusCode).toBe(200);
    expect(engaged.json()).toEqual({ relay: 'engaged' });
    const idle = await poll(t, mission.agent, pathOf(idleRelay));
    expect(idle.statusCode).toBe(408);
    expect(idle.json().error).toBe('expired');
  });

  it('resolves an engaged relay without max_wait at the end of its lifetime with 200 {relay: engaged}', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, RELAY);
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    t.clock.advance(t.config.PENDING_TTL_SECONDS * 1000);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ relay: 'engaged' });
  });

  it('follows a relay of the PS’s own interaction: interacting once its code is opened, done once decided (§Interaction Response)', async () => {
    const mission = await approveMission(t);
    // The agent needs the person's consent at this PS and relays that interaction back to it.
    const consent = await signedPost(t, mission.agent, '/person', {
      resource: calendar.issuer,
      capabilities: ['interaction'],
    });
    expect(consent.statusCode).toBe(202);
    const requirement = parseAAuthRequirement(String(consent.headers['aauth-requirement']), DEV) as {
      url: string;
      code: string;
    };
    expect(requirement.url).toBe(`${ISSUER}/interaction`);
    const res = await signedPost(t, mission.agent, ENDPOINT, {
      type: 'interaction',
      url: requirement.url,
      code: requirement.code,
    });
    expect(res.statusCode).toBe(202);
    expect((await poll(t, mission.agent, pathOf(res))).json().status).toBe('pending');

    const relayPage = await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    const link = `${ISSUER}/interaction?code=${requirement.code}`;
    expect(relayPage.body).toContain(`href="${link}"`);
    const consentPage = await mission.browser.get(`/interaction?code=${requirement.code}`);
    expect(consentPage.statusCode).toBe(200);
    expect((await poll(t, mission.agent, pathOf(res))).json().status).toBe('interacting');

    const approved = await approve(mission.browser, consentPage);
    expect(approved.statusCode).toBe(200);
    const relayed = await poll(t, mission.agent, pathOf(res));
    expect(relayed.statusCode).toBe(200);
    expect(relayed.json()).toEqual({ relay: 'done' });
    const issued = await poll(t, mission.agent, pathOf(consent));
    expect(issued.statusCode).toBe(200);
    expect(typeof issued.json().person_token).toBe('string');
  });

  it('answers 424 interaction_unavailable when no person is known for the agent (§Interaction Endpoint Errors)', async () => {
    const res = await signedPost(t, newAgent(t), ENDPOINT, RELAY);
    expect(res.statusCode).toBe(424);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().error).toBe('interaction_unavailable');
    expect(res.headers.location).toBeUndefined();
  });

  it('answers 424 interaction_unavailable when the person has no live session at the PS, and records it', async () => {
    const mission = await approveMission(t, newAgent(t), BOB);
    await signOut(mission.browser);
    const res = await signedPost(t, mission.agent, ENDPOINT, { ...RELAY, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(424);
    expect(res.json().error).toBe('interaction_unavailable');
    expect((await missionLog(t, mission.s256)).at(-1)).toEqual({
      kind: 'interaction_request',
      detail: {
        type: 'interaction',
        description: RELAY.description,
        url: RELAY.url,
        error: 'interaction_unavailable',
      },
    });
  });

  it('refuses a url that is not https or has a query or fragment, and bad members, with 400 invalid_request (§Interaction Required)', async () => {
    const mission = await approveMission(t);
    for (const body of [
      { ...RELAY, url: 'http://booking.example/confirm' },
      { ...RELAY, url: 'https://booking.example/confirm?x=1' },
      { ...RELAY, url: 'https://booking.example/confirm?' },
      { ...RELAY, url: 'https://booking.example/confirm#top' },
      { ...RELAY, url: 'javascript:alert(1)' },
      { ...RELAY, url: undefined },
      { ...RELAY, code: undefined },
      { ...RELAY, code: 'X7K2"><script>' },
      { ...RELAY, max_wait: -1 },
      { ...RELAY, type: 'completion' },
      { ...RELAY, type: undefined },
      { type: 'question' },
      { type: 'question', question: '' },
      { ...RELAY, mission_s256: 'nope' },
    ]) {
      const res = await signedPost(t, mission.agent, ENDPOINT, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('lets only the requesting agent poll a relay: any other agent gets the 404 of an unknown URL', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, RELAY);
    const other = newAgent(t);
    const foreign = await poll(t, other, pathOf(res));
    const unknown = await poll(t, other, `${ENDPOINT}/pending/${'C'.repeat(43)}`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('not_found');
    expect(foreign.body).toBe(unknown.body);
    // A question's pending URL is not a relay's.
    const question = await signedPost(t, mission.agent, ENDPOINT, { type: 'question', question: 'Why?' });
    const wrongPath = await poll(t, mission.agent, `${ENDPOINT}/pending/${pendingIdOf(question)}`);
    expect(wrongPath.statusCode).toBe(404);
  });
});

describe('asking the person a question (§Interaction Endpoint)', () => {
  it('shows the question sanitized and returns the person’s answer as 200 {answer}', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, {
      type: 'question',
      description: 'Two options found',
      question: 'Take the **refundable** fare? <img src=x onerror=alert(1)>',
      mission_s256: mission.s256,
    });
    expect(res.statusCode).toBe(202);
    expect(pathOf(res)).toMatch(/^\/pending\/[A-Za-z0-9_-]{43}$/);
    const page = await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<strong>refundable</strong>');
    expect(page.body).not.toMatch(/<img[^>]*onerror/);
    expect((await poll(t, mission.agent, pathOf(res))).json().status).toBe('interacting');

    const empty = await decide(mission.browser, { decision: 'answer', answer: '  ' });
    expect(empty.statusCode).toBe(400);
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    const answered = await decide(mission.browser, {
      decision: 'answer',
      answer: 'Yes, go ahead with the refundable option.',
    });
    expect(answered.statusCode).toBe(200);
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ answer: 'Yes, go ahead with the refundable option.' });
    expect((await missionLog(t, mission.s256)).at(-1)).toEqual({
      kind: 'interaction_response',
      detail: {
        type: 'question',
        outcome: 'answered',
        answer: 'Yes, go ahead with the refundable option.',
        pending_id: pendingIdOf(res),
      },
    });
  });

  it('answers 403 denied when the person declines to answer', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, ENDPOINT, { type: 'question', question: 'Which hotel?' });
    await mission.browser.get(`/governance/${pendingIdOf(res)}`);
    await decide(mission.browser, { decision: 'decline' });
    const answer = await poll(t, mission.agent, pathOf(res));
    expect(answer.statusCode).toBe(403);
    expect(answer.json().error).toBe('denied');
  });

  it('answers 403 user_unreachable when no person is known and the agent lacks the interaction capability', async () => {
    const res = await signedPost(t, newAgent(t), ENDPOINT, { type: 'question', question: 'Which hotel?' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('user_unreachable');
  });

  it('offers an interaction code for a question when no person is known and the agent declares interaction', async () => {
    const res = await signedPost(t, newAgent(t), ENDPOINT, {
      type: 'question',
      question: 'Which hotel?',
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    expect(parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV)).toMatchObject({
      requirement: 'interaction',
      url: `${ISSUER}/interaction`,
    });
  });
});

describe('interaction errors (§Mission Endpoint Errors, §Mission Status Errors)', () => {
  it('answers a foreign and an unknown mission with identical 404 mission_not_found', async () => {
    const mission = await approveMission(t);
    const other = await approveMission(t);
    const foreign = await signedPost(t, other.agent, ENDPOINT, { ...RELAY, mission_s256: mission.s256 });
    const unknown = await signedPost(t, other.agent, ENDPOINT, { ...RELAY, mission_s256: UNKNOWN_MISSION });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('mission_not_found');
    expect(observable(foreign)).toEqual(observable(unknown));
  });

  it('answers the owner’s terminated mission with 403 mission_terminated', async () => {
    const mission = await approveMission(t);
    await mission.browser.get('/missions');
    await mission.browser.post('/missions/revoke', { _csrf: mission.browser.csrf(), s256: mission.s256 });
    const res = await signedPost(t, mission.agent, ENDPOINT, {
      type: 'question',
      question: 'Still there?',
      mission_s256: mission.s256,
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'revoked',
    });
  });
});
