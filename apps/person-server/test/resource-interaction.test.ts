import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { createTestIssuer } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approve,
  bindAgentWithPersonToken,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  requestAuthToken,
} from './support/token-flow.js';

const agentProvider = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: 'https://files.example',
  metadata: { name: 'Example Files' },
});
/** Loopback http is admitted in development mode, an IP literal needs no DNS. */
const RESOURCE_INTERACTION_URL = 'http://127.0.0.1:4000/interaction';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: createLocalKeyResolver([agentProvider, resource]) });
});
afterAll(async () => {
  await t?.close();
});

/** An auth token request whose resource token carries an `interaction` claim, opened by alice. */
async function openResourceFlow(url = RESOURCE_INTERACTION_URL, callback?: string) {
  const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
  const res = await requestAuthToken(t, bound.agent, {
    resource_token: mintResourceToken(t, resource, bound, {
      scope: 'data.read',
      claims: { interaction: { url, code: 'RSRC-CODE' } },
    }).jwt,
    capabilities: ['interaction'],
  });
  expect(res.statusCode).toBe(202);
  const code = codeOf(res);
  const { browser, page } = await openCode(
    t,
    callback === undefined ? code : `${code}&callback=${encodeURIComponent(callback)}`,
  );
  return { bound, pending: pathOf(res), browser, page };
}

function continueLinkOf(body: string): URL {
  const match = /<a class="button" href="([^"]+)">/.exec(body);
  if (!match) throw new Error('no continue link');
  return new URL(match[1]!.replaceAll('&amp;', '&'));
}

describe('resource-initiated interaction (§Resource-Initiated Interaction)', () => {
  it('shows the interstitial with a continue link carrying the code and a per-flow PS callback; success leads to consent and 200', async () => {
    const flow = await openResourceFlow();
    expect(flow.page.statusCode).toBe(200);
    expect(flow.page.body).toContain(
      '<strong>Example Files</strong> needs you to grant additional permissions first.',
    );
    expect(flow.page.body).not.toContain('name="decision"');
    const link = continueLinkOf(flow.page.body);
    expect(`${link.origin}${link.pathname}`).toBe(RESOURCE_INTERACTION_URL);
    expect(link.searchParams.get('code')).toBe('RSRC-CODE');
    const callback = new URL(link.searchParams.get('callback')!);
    expect(callback.origin).toBe(ISSUER);
    expect(callback.pathname).toMatch(/^\/interaction\/callback\/[A-Za-z0-9_-]{43}$/);
    // Reloading shows the same per-flow callback; the agent still waits.
    const again = await flow.browser.get(`/interaction/requests/${flow.pending.split('/').at(-1)}`);
    expect(continueLinkOf(again.body).searchParams.get('callback')).toBe(callback.href);
    const waiting = await poll(t, flow.bound.agent, flow.pending);
    expect(waiting.statusCode).toBe(202);

    const back = await flow.browser.get(callback.pathname);
    expect(back.statusCode).toBe(303);
    const consent = await flow.browser.get(String(back.headers.location));
    expect(consent.statusCode).toBe(200);
    expect(consent.body).toContain('name="decision" value="approve"');
    // The callback works once.
    expect((await flow.browser.get(callback.pathname)).statusCode).toBe(410);
    expect((await approve(flow.browser, consent)).statusCode).toBe(200);
    const done = await poll(t, flow.bound.agent, flow.pending);
    expect(done.statusCode).toBe(200);
    expect(decodeClaims(done.json().auth_token).scope).toBe('data.read');
  });

  it('refuses approval before the resource flow is done', async () => {
    const flow = await openResourceFlow();
    const pendingId = flow.pending.split('/').at(-1)!;
    await flow.browser.get(`/interaction/requests/${pendingId}`);
    const forged = await flow.browser.post('/interaction', {
      _csrf: flow.browser.csrf(),
      request: pendingId,
      decision: 'approve',
    });
    expect(forged.statusCode).toBe(409);
    expect((await poll(t, flow.bound.agent, flow.pending)).statusCode).toBe(202);
  });

  const mappings: ReadonlyArray<[string, number, string]> = [
    ['access_denied', 403, 'denied'],
    ['user_abandoned', 403, 'abandoned'],
    ['interaction_expired', 408, 'expired'],
    ['server_error', 500, 'server_error'],
    ['temporarily_unavailable', 500, 'server_error'],
    ['something_new', 500, 'server_error'],
  ];
  for (const [error, status, code] of mappings) {
    it(`maps callback error=${error} to ${status} ${code} on the agent's poll (§Interaction Callback Errors)`, async () => {
      const flow = await openResourceFlow();
      const callback = new URL(continueLinkOf(flow.page.body).searchParams.get('callback')!);
      const back = await flow.browser.get(`${callback.pathname}?error=${error}`);
      expect(back.statusCode).toBe(200);
      expect(back.body).toContain('The resource did not complete its part');
      const polled = await poll(t, flow.bound.agent, flow.pending);
      expect(polled.statusCode).toBe(status);
      expect(polled.json().error).toBe(code);
      expect((await poll(t, flow.bound.agent, flow.pending)).statusCode).toBe(410);
    });
  }

  it("passes a callback error on to the agent's own callback when it gave one", async () => {
    const flow = await openResourceFlow(RESOURCE_INTERACTION_URL, 'https://agent.example/callback?state=s1');
    const callback = new URL(continueLinkOf(flow.page.body).searchParams.get('callback')!);
    const back = await flow.browser.get(`${callback.pathname}?error=access_denied`);
    expect(back.statusCode).toBe(303);
    expect(back.headers.location).toBe('https://agent.example/callback?state=s1&error=access_denied');
  });

  it('refuses a callback for another person or an unknown id', async () => {
    const flow = await openResourceFlow();
    const callback = new URL(continueLinkOf(flow.page.body).searchParams.get('callback')!);
    const { browser: bob } = await openCode(t, 'AAAA-AAAA', {
      username: 'bob',
      password: 'bob-demo-password',
    });
    expect((await bob.get(callback.pathname)).statusCode).toBe(410);
    expect((await flow.browser.get('/interaction/callback/not-a-real-id')).statusCode).toBe(410);
    expect((await poll(t, flow.bound.agent, flow.pending)).statusCode).toBe(202);
  });

  it('refuses a non-https interaction.url at the token endpoint with 400 invalid_resource_token', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, resource, bound, {
        claims: { interaction: { url: 'http://files.example/interaction', code: 'X' } },
      }).jwt,
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_resource_token');
  });

  it('refuses an interaction.url the egress policy does not admit; the agent gets server_error', async () => {
    const flow = await openResourceFlow('https://10.1.2.3/interaction');
    expect(flow.page.statusCode).toBe(400);
    expect(flow.page.body).not.toContain('10.1.2.3/interaction?code');
    const polled = await poll(t, flow.bound.agent, flow.pending);
    expect(polled.statusCode).toBe(500);
    expect(polled.json().error).toBe('server_error');
  });
});
