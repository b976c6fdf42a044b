import {
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  parseAAuthRequirement,
} from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  Browser,
  ISSUER,
  newKey,
  sendSigned,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

/** An Agent Provider elsewhere (open federation), answered by the injected key resolver. */
const otherAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const RESOURCE = 'https://resource.example';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: createLocalKeyResolver([otherAp]) });
});
afterAll(async () => {
  await t?.close();
});

function newAgent() {
  return makeAgentToken({ issuer: otherAp, clock: t.clock, ps: ISSUER });
}

function requestPersonToken(agent: ReturnType<typeof newAgent>, body: Record<string, unknown>) {
  return sendSigned(t, { method: 'POST', path: '/person', key: agent.key, signatureKey: agent.jwt, body });
}

function codeOf(res: LightMyRequestResponse): string {
  return (parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV) as { code: string }).code;
}

async function decide(person: typeof ALICE, code: string) {
  const browser = new Browser(t);
  await browser.signIn(person.username, person.password);
  const page = await browser.get(`/interaction?code=${code}`);
  if (page.statusCode !== 200) return page;
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  return browser.post('/interaction', { _csrf: browser.csrf(), request: id, decision: 'approve' });
}

describe('POST /person (§Person Token Endpoint)', () => {
  it('needs the person: 202 interaction when the agent can bring them, then 200 with a person token', async () => {
    const agent = newAgent();
    const res = await requestPersonToken(agent, { resource: RESOURCE, capabilities: ['interaction'] });
    expect(res.statusCode).toBe(202);
    expect(res.headers.location).toMatch(new RegExp(`^${ISSUER}/pending/[A-Za-z0-9_-]{43}$`));
    const decided = await decide(ALICE, codeOf(res));
    expect(decided.statusCode).toBe(200);
    t.clock.advance(2000);
    const poll = await sendSigned(t, {
      method: 'GET',
      path: new URL(String(res.headers.location)).pathname,
      key: agent.key,
      signatureKey: agent.jwt,
    });
    expect(poll.statusCode).toBe(200);
    const { person_token, expires_in } = poll.json();
    expect(expires_in).toBeGreaterThan(0);
    const verifier = createTokenVerifier({
      clock: t.clock,
      keys: createLocalKeyResolver([
        { issuer: ISSUER, dwk: DWK.person, keys: t.psKeys.published, metadata: { issuer: ISSUER } },
      ]),
      identifierPolicy: DEV,
    });
    const verified = await verifier.verify(person_token, { kinds: ['person'] });
    expect(verified.claims).toMatchObject({
      iss: ISSUER,
      aud: RESOURCE,
      cnf: { jwk: { x: agent.key.jwk.x } },
    });
    // The agent is now bound to alice and consented at this resource: the next request is immediate.
    t.clock.advance(1000);
    const again = await requestPersonToken(agent, { resource: RESOURCE });
    expect(again.statusCode).toBe(200);
    expect(again.json().person_token).toEqual(expect.any(String));
  });

  it('answers 403 user_unreachable when the agent did not declare the interaction capability', async () => {
    const res = await requestPersonToken(newAgent(), { resource: RESOURCE });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('user_unreachable');
  });

  it('binds an agent of another AP to the first person who approves; a second person is refused', async () => {
    const agent = newAgent();
    const first = await requestPersonToken(agent, { resource: RESOURCE, capabilities: ['interaction'] });
    t.clock.advance(1000);
    const second = await requestPersonToken(agent, {
      resource: 'https://other.example',
      capabilities: ['interaction'],
    });
    expect((await decide(BOB, codeOf(first))).statusCode).toBe(200);
    const refused = await decide(ALICE, codeOf(second));
    expect(refused.statusCode).toBe(403);
    t.clock.advance(2000);
    const poll = await sendSigned(t, {
      method: 'GET',
      path: new URL(String(second.headers.location)).pathname,
      key: agent.key,
      signatureKey: agent.jwt,
    });
    expect(poll.json()).toEqual({ status: 'pending' });
  });

  it('refuses a sub-agent signing (§Single-Level Depth) with 400 invalid_agent_token', async () => {
    const parent = newAgent();
    const sub = makeAgentToken({
      issuer: otherAp,
      clock: t.clock,
      ps: ISSUER,
      sub: parent.claims.sub.replace('@', '+w1@'),
      parent_agent: parent.claims.sub,
    });
    const res = await requestPersonToken(sub, { resource: RESOURCE, capabilities: ['interaction'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_agent_token');
    // Every PS endpoint refuses it, pending URLs included (even one its parent owns).
    const pending = await requestPersonToken(parent, { resource: RESOURCE, capabilities: ['interaction'] });
    expect(pending.statusCode).toBe(202);
    t.clock.advance(5_000);
    const poll = await sendSigned(t, {
      method: 'GET',
      path: String(pending.headers.location).replace(ISSUER, ''),
      key: sub.key,
      signatureKey: sub.jwt,
    });
    expect(poll.statusCode).toBe(400);
    expect(poll.json().error).toBe('invalid_agent_token');
  });

  it('refuses hwk (a durable key) with 401 unsupported_scheme naming jwt', async () => {
    const durable = newKey();
    const { kid: _kid, ...jwk } = durable.jwk;
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/person',
      key: durable,
      signatureKey: { scheme: 'hwk', jwk: jwk as Record<string, string> },
      body: { resource: RESOURCE },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('unsupported_scheme');
    expect(res.headers['accept-signature-scheme']).toBe('jwt');
  });

  it('redirects to the agent callback with error=access_denied on deny; a foreign callback is refused (§Interaction Callback Errors)', async () => {
    const agent = newAgent();
    const res = await requestPersonToken(agent, { resource: RESOURCE, capabilities: ['interaction'] });
    const browser = new Browser(t);
    await browser.signIn(ALICE.username, ALICE.password);
    const foreign = await browser.get(
      `/interaction?code=${codeOf(res)}&callback=${encodeURIComponent('https://evil.example/callback')}`,
    );
    expect(foreign.statusCode).toBe(400);
    const callback = 'https://agent.example/callback?state=xyz';
    const page = await browser.get(
      `/interaction?code=${codeOf(res)}&callback=${encodeURIComponent(callback)}`,
    );
    expect(page.statusCode).toBe(200);
    const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
    const denied = await browser.post('/interaction', {
      _csrf: browser.csrf(),
      request: id,
      decision: 'deny',
    });
    expect(denied.statusCode).toBe(303);
    expect(denied.headers.location).toBe('https://agent.example/callback?state=xyz&error=access_denied');
    t.clock.advance(2000);
    const poll = await sendSigned(t, {
      method: 'GET',
      path: new URL(String(res.headers.location)).pathname,
      key: agent.key,
      signatureKey: agent.jwt,
    });
    expect(poll.statusCode).toBe(403);
    expect(poll.json().error).toBe('denied');
  });
});

describe('POST /revoke (§Token Revocation)', () => {
  it('lets the issuer revoke its token; unknown jti of this issuer is 404; others may not revoke', async () => {
    const ap = t.apKeys.active;
    const viaAp = { scheme: 'jwks_uri' as const, id: ISSUER, dwk: DWK.agent, kid: ap.kid };
    const unknown = await sendSigned(t, {
      method: 'POST',
      path: '/revoke',
      key: ap,
      signatureKey: viaAp,
      body: { iss: ISSUER, jti: 'nope' },
    });
    expect(unknown.statusCode).toBe(404);
    const foreign = await sendSigned(t, {
      method: 'POST',
      path: '/revoke',
      key: ap,
      signatureKey: viaAp,
      body: { iss: otherAp.issuer, jti: 'x' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error).toBe('forbidden');
    // The other AP revokes one of its agent tokens: the PS denies it from then on.
    const agent = newAgent();
    const byOther = await sendSigned(t, {
      method: 'POST',
      path: '/revoke',
      key: otherAp.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: otherAp.issuer, dwk: DWK.agent, kid: otherAp.signingKey.kid },
      body: { iss: otherAp.issuer, jti: agent.claims.jti },
    });
    expect(byOther.statusCode).toBe(200);
    const refused = await requestPersonToken(agent, { resource: RESOURCE, capabilities: ['interaction'] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('invalid_agent_token');
  });
});
