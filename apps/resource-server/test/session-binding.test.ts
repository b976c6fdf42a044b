import { formatAuthorizationAAuth } from '@aauth-ref/core';
import { makeKeyPair } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newAgent,
  personToken,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { interactionOf, pathOf, signedInBrowser } from './support/browser-flow.js';

/**
 * Session tokens bound to the agent identity (docs/spec-decisions.md, *Resource server: session tokens
 * bound to the agent identity*): a grant delivered to an agent token follows that agent (`iss`, `sub`)
 * across key rotations — each use signed by the key in a current agent token's `cnf` — and is refused
 * to any other agent, and to a request not signed with an agent token.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ SESSION_TOKEN_ROLL_SECONDS: '600', SESSION_TOKEN_GRACE_SECONDS: '30' });
});
afterAll(async () => {
  await t?.close();
});

async function sessionFor(agent: TestAgent): Promise<string> {
  const started = await send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: { 'aauth-capabilities': 'interaction' },
  });
  expect(started.statusCode).toBe(202);
  const browser = await signedInBrowser(t, 'gina');
  const page = await browser.get(`/interaction?code=${encodeURIComponent(interactionOf(started).code)}`);
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  await browser.post('/interaction', { _csrf: browser.csrf(page), request: id, decision: 'approve' });
  t.clock.advance(3_000);
  const delivered = await send(t, {
    path: pathOf(started.headers.location),
    key: agent.key,
    signatureKey: agent.agentToken,
  });
  expect(delivered.statusCode).toBe(200);
  return String(delivered.headers['aauth-access']);
}

/** The agent's hourly refresh: a new key, certified by a new agent token for the same `sub`. */
function rotated(agent: TestAgent): TestAgent {
  const key = makeKeyPair();
  const agentToken = t.ap.issue(
    'agent',
    { sub: agent.sub, cnf: { jwk: key.jwk }, ps: t.ps.issuer } as never,
    { clock: t.clock },
  );
  return { key, sub: agent.sub, agentToken };
}

function journal(agent: TestAgent, token: string, signatureKey: string = agent.agentToken) {
  return send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey,
    headers: { authorization: formatAuthorizationAAuth(token) },
  });
}

describe('session binding across the agent’s key rotation (§AAuth-Access Response Header)', () => {
  it('the session survives the agent’s key rotation and keeps rolling under the new key', async () => {
    const agent = newAgent(t);
    const token = await sessionFor(agent);
    const next = rotated(agent);
    expect(next.key.thumbprint).not.toBe(agent.key.thumbprint);
    const served = await journal(next, token);
    expect(served.statusCode).toBe(200);
    expect(served.json().via).toBe('session-token');

    t.clock.advance(601_000);
    const rolled = await journal(rotated(next), token);
    expect(rolled.statusCode).toBe(200);
    const fresh = String(rolled.headers['aauth-access']);
    expect(fresh).not.toBe(token);
    expect((await journal(next, fresh)).statusCode).toBe(200);
  });

  it('§AAuth-Access Security: another agent (other sub) is refused with the same token', async () => {
    const agent = newAgent(t);
    const token = await sessionFor(agent);
    const response = await journal(newAgent(t), token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_request');
  });

  it('§AAuth-Access Security: the agent’s sub in a token whose cnf is another key does not help a thief', async () => {
    const agent = newAgent(t);
    const token = await sessionFor(agent);
    // The thief holds the agent token (public) but signs with its own key: the hook refuses it.
    const thief = { ...agent, key: makeKeyPair() };
    const response = await journal(thief, token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBeDefined();
  });

  it('a grant bound to the agent is refused on a request signed with a person token (no agent identity)', async () => {
    const agent = newAgent(t);
    const token = await sessionFor(agent);
    const response = await journal(agent, token, personToken(t, agent.key));
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_request');
  });
});
