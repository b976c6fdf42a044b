import { formatAuthorizationAAuth } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_CALLBACK,
  authToken,
  ISSUER,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  sendUnsigned,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { interactionOf, pathOf, signedInBrowser, type TestBrowser } from './support/browser-flow.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ SESSION_TOKEN_ROLL_SECONDS: '600', SESSION_TOKEN_GRACE_SECONDS: '30' });
});
afterAll(async () => {
  await t?.close();
});

/** The stub AP publishes it as `callback_endpoint`; the page accepts no other callback. */
const CALLBACK = AGENT_CALLBACK;
const WITH_INTERACTION = { 'aauth-capabilities': 'interaction' };

/** The agent asks for the journal declaring `interaction`: the 202 it gets. */
async function startInteraction(agent: TestAgent) {
  const response = await send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: WITH_INTERACTION,
  });
  expect(response.statusCode).toBe(202);
  return { response, pending: pathOf(response.headers.location), ...interactionOf(response) };
}

function poll(agent: TestAgent, path: string, signatureKey = agent.agentToken) {
  return send(t, { path, key: agent.key, signatureKey });
}

/** Opens the code in a signed-in browser and submits `decision`; the decision response. */
async function decide(
  browser: TestBrowser,
  code: string,
  decision: string,
  callback: string | null = CALLBACK,
) {
  const query = new URLSearchParams({ code, ...(callback === null ? {} : { callback }) });
  const page = await browser.get(`/interaction?${query}`);
  expect(page.statusCode).toBe(200);
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  return browser.post('/interaction', { _csrf: browser.csrf(page), request: id, decision });
}

/** A full interaction: the session token delivered on the poll. */
async function sessionFor(agent: TestAgent, username = 'carol'): Promise<string> {
  const { pending, code } = await startInteraction(agent);
  const browser = await signedInBrowser(t, username);
  const done = await decide(browser, code, 'approve');
  expect(done.statusCode).toBe(303);
  t.clock.advance(3_000);
  const delivered = await poll(agent, pending);
  expect(delivered.statusCode).toBe(200);
  return String(delivered.headers['aauth-access']);
}

function journal(agent: TestAgent, sessionToken: string | undefined, extra: Record<string, string> = {}) {
  return send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: {
      ...(sessionToken === undefined ? {} : { authorization: formatAuthorizationAAuth(sessionToken) }),
      ...extra,
    },
  });
}

describe('resource-managed access (two-party, §Resource-Managed Authorization)', () => {
  it('happy path: 202 interaction → sign-in and consent → 200 AAuth-Access → journal with the session token', async () => {
    const agent = newAgent(t);
    const { response, pending, url, code } = await startInteraction(agent);
    expect(url).toBe(`${ISSUER}/interaction`);
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(pending).toMatch(/^\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(response.headers['retry-after']).toBe('2');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({ status: 'pending' });

    // Still waiting: 202 repeating the code.
    t.clock.advance(3_000);
    const waiting = await poll(agent, pending);
    expect(waiting.statusCode).toBe(202);
    expect(interactionOf(waiting).code).toBe(code);

    const browser = await signedInBrowser(t);
    const page = await browser.get(
      `/interaction?code=${code.toLowerCase()}&callback=${encodeURIComponent(CALLBACK)}`,
    );
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('carol');
    t.clock.advance(3_000);
    const interacting = await poll(agent, pending);
    expect(interacting.statusCode).toBe(202);
    expect(interacting.json()).toEqual({ status: 'interacting' });
    expect(interacting.headers['aauth-requirement']).toBeUndefined();

    const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
    const done = await browser.post('/interaction', {
      _csrf: browser.csrf(page),
      request: id,
      decision: 'approve',
    });
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe(CALLBACK);

    t.clock.advance(3_000);
    const delivered = await poll(agent, pending);
    expect(delivered.statusCode).toBe(200);
    expect(delivered.headers['cache-control']).toBe('no-store');
    expect(delivered.json()).toEqual({ status: 'authorized', scope: 'notes.read' });
    const token = String(delivered.headers['aauth-access']);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Stored hashed: the plaintext appears nowhere in the database.
    const rows = await t.prisma.sessionToken.findMany();
    expect(rows.some((row) => row.tokenHash === token)).toBe(false);

    // §Pending URL Security: after the terminal answer, 410.
    t.clock.advance(3_000);
    expect((await poll(agent, pending)).statusCode).toBe(410);

    const served = await journal(agent, token);
    expect(served.statusCode).toBe(200);
    expect(served.json()).toMatchObject({
      account: 'carol',
      via: 'session-token',
      scope: 'notes.read',
      notes: [],
    });
    expect(served.headers['aauth-access']).toBeUndefined();
  });

  it('§Pending URL Security: a poll signed by another key gets 404, like an unknown id', async () => {
    const agent = newAgent(t);
    const other = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(3_000);
    const foreign = await poll(other, pending);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('not_found');
    expect((await poll(agent, '/pending/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).statusCode).toBe(404);
  });

  it('§Polling with GET: polling sooner than Retry-After → 429 slow_down with a longer Retry-After', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    const early = await poll(agent, pending);
    expect(early.statusCode).toBe(429);
    expect(early.json().error).toBe('slow_down');
    expect(early.headers['retry-after']).toBe('7');
  });

  it('§Polling Error Codes: an interaction nobody opened expires → 408 expired, then 410', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(601_000);
    const expired = await poll(agent, pending);
    expect(expired.statusCode).toBe(408);
    expect(expired.json().error).toBe('expired');
    t.clock.advance(3_000);
    expect((await poll(agent, pending)).statusCode).toBe(410);
  });

  describe('session token rules (§AAuth-Access Response Header)', () => {
    it('rolls after SESSION_TOKEN_ROLL_SECONDS; the previous value works for the grace period only', async () => {
      const agent = newAgent(t);
      const first = await sessionFor(agent);
      t.clock.advance(601_000);
      const rolled = await journal(agent, first);
      expect(rolled.statusCode).toBe(200);
      const second = String(rolled.headers['aauth-access']);
      expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(second).not.toBe(first);

      // In the grace period the old value still works (and rolls nothing more).
      t.clock.advance(10_000);
      const grace = await journal(agent, first);
      expect(grace.statusCode).toBe(200);
      expect(grace.headers['aauth-access']).toBeUndefined();

      t.clock.advance(25_000);
      const late = await journal(agent, first);
      expect(late.statusCode).toBe(401);
      expect(late.headers['signature-error']).toBe('error=invalid_request');
      expect((await journal(agent, second)).statusCode).toBe(200);
    });

    it('refuses an empty credential, one with whitespace, and two credentials → 401 invalid_request', async () => {
      const agent = newAgent(t);
      const token = await sessionFor(agent);
      for (const value of [
        'AAuth',
        'AAuth ',
        `AAuth ${token} x`,
        `AAuth ${token}, AAuth ${token}`,
        `AAuth\t${token}`,
      ]) {
        const response = await send(t, {
          path: '/api/journal',
          key: agent.key,
          signatureKey: agent.agentToken,
          headers: { authorization: value },
        });
        expect(response.statusCode, value).toBe(401);
        expect(response.headers['signature-error'], value).toBe('error=invalid_request');
        expect(response.json().error).toBe('invalid_request');
      }
    });

    it('refuses a session token presented by another key, an unknown one, and one sent unsigned', async () => {
      const agent = newAgent(t);
      const token = await sessionFor(agent);
      const thief = newAgent(t);
      const stolen = await journal(thief, token);
      expect(stolen.statusCode).toBe(401);
      expect(stolen.headers['signature-error']).toBe('error=invalid_request');
      expect((await journal(agent, 'bm90LWEtdG9rZW4')).statusCode).toBe(401);
      const bearer = await t.app.inject({
        method: 'GET',
        url: '/api/journal',
        headers: { host: 'localhost:3003', authorization: `AAuth ${token}` },
      });
      expect(bearer.statusCode).toBe(401);
      expect(bearer.headers['signature-error']).toBe('error=invalid_request');
    });

    it('§AAuth-Access Security: the authorization field must be covered by the signature', async () => {
      const agent = newAgent(t);
      const token = await sessionFor(agent);
      const { buildRequest } = await import('./support/app-harness.js');
      const { injectBuilt } = await import('@aauth-ref/testkit');
      const built = buildRequest(t, { path: '/api/journal', key: agent.key, signatureKey: agent.agentToken });
      const response = await injectBuilt(t.app, {
        ...built,
        headers: { ...built.headers, authorization: formatAuthorizationAAuth(token) },
      });
      expect(response.statusCode).toBe(401);
      expect(String(response.headers['signature-error'])).toContain('invalid_input');
    });
  });

  describe('the interaction page (§User Interaction, §Interaction Callback Errors)', () => {
    it.each([
      ['deny', 'access_denied', 403, 'denied'],
      ['cancel', 'user_abandoned', 403, 'abandoned'],
    ])('%s → redirect with error=%s; the poll answers %i %s', async (decision, error, status, code) => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      const done = await decide(browser, started.code, decision);
      expect(done.statusCode).toBe(303);
      expect(done.headers.location).toBe(`${CALLBACK}?error=${error}`);
      t.clock.advance(3_000);
      const answer = await poll(agent, started.pending);
      expect(answer.statusCode).toBe(status);
      expect(answer.json().error).toBe(code);
      t.clock.advance(3_000);
      expect((await poll(agent, started.pending)).statusCode).toBe(410);
    });

    it('a decision after the request expired → error=interaction_expired; the poll answers 408', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      const page = await browser.get(
        `/interaction?code=${started.code}&callback=${encodeURIComponent(CALLBACK)}`,
      );
      const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
      t.clock.advance(601_000);
      const done = await browser.post('/interaction', {
        _csrf: browser.csrf(page),
        request: id,
        decision: 'approve',
      });
      expect(done.headers.location).toBe(`${CALLBACK}?error=interaction_expired`);
      const answer = await poll(agent, started.pending);
      expect(answer.statusCode).toBe(408);
    });

    it('an expired code with a callback → error=interaction_expired', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      t.clock.advance(601_000);
      const page = await browser.get(
        `/interaction?code=${started.code}&callback=${encodeURIComponent(CALLBACK)}`,
      );
      expect(page.statusCode).toBe(303);
      expect(page.headers.location).toBe(`${CALLBACK}?error=interaction_expired`);
    });

    it('an internal failure → error=server_error (poll 500); an unreachable database → temporarily_unavailable', async () => {
      const { vi } = await import('vitest');
      for (const [reachable, error] of [
        [true, 'server_error'],
        [false, 'temporarily_unavailable'],
      ] as const) {
        const agent = newAgent(t);
        const started = await startInteraction(agent);
        const browser = await signedInBrowser(t);
        const page = await browser.get(
          `/interaction?code=${started.code}&callback=${encodeURIComponent(CALLBACK)}`,
        );
        const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
        const original = t.prisma.pendingRequest.updateMany.bind(t.prisma.pendingRequest);
        let failed = false;
        const spy = vi.spyOn(t.prisma.pendingRequest, 'updateMany').mockImplementation(((args: never) => {
          if (!failed) {
            failed = true;
            return Promise.reject(new Error('connection reset'));
          }
          return original(args);
        }) as never);
        const ping = reachable ? undefined : vi.spyOn(t.database, 'ping').mockResolvedValue(false);
        try {
          const done = await browser.post('/interaction', {
            _csrf: browser.csrf(page),
            request: id,
            decision: 'approve',
          });
          expect(done.headers.location).toBe(`${CALLBACK}?error=${error}`);
        } finally {
          spy.mockRestore();
          ping?.mockRestore();
        }
        if (reachable) {
          t.clock.advance(3_000);
          const answer = await poll(agent, started.pending);
          expect(answer.statusCode).toBe(500);
          expect(answer.json().error).toBe('server_error');
        }
      }
    });

    it('without a callback the page says it is done', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const done = await decide(await signedInBrowser(t), started.code, 'approve', null);
      expect(done.statusCode).toBe(200);
      expect(done.body).toContain('You allowed the agent');
    });

    it("accepts the AP's callback_endpoint with a query of the agent's own; the error is added to it", async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const done = await decide(await signedInBrowser(t), started.code, 'deny', `${CALLBACK}?state=s1`);
      expect(done.statusCode).toBe(303);
      expect(done.headers.location).toBe(`${CALLBACK}?state=s1&error=access_denied`);
    });

    it('asks an anonymous browser to sign in first, and looks nothing up', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const { newBrowser } = await import('./support/browser-flow.js');
      const page = await newBrowser(t).get(`/interaction?code=${started.code}`);
      expect(page.statusCode).toBe(303);
      expect(page.headers.location).toMatch(/^\/signin\?return_to=/);
    });

    it('§Interaction Code Format: single use — a second account presenting a consumed code gets invalid_code', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const carol = await signedInBrowser(t, 'carol');
      expect((await carol.get(`/interaction?code=${started.code}`)).statusCode).toBe(200);
      // The same account may reload it.
      expect((await carol.get(`/interaction?code=${started.code}`)).statusCode).toBe(200);
      const dave = await signedInBrowser(t, 'dave');
      const again = await dave.get(`/interaction?code=${started.code}`);
      expect(again.statusCode).toBe(410);
      expect(again.body).toContain('invalid_code');
    });

    it('§Interaction Code Format: wrong codes are rate-limited; beyond the limit even a valid code is refused', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t, 'erin');
      for (let i = 0; i < 5; i++) {
        const wrong = await browser.get(`/interaction?code=ZZZZ-ZZZ${i}`);
        expect(wrong.statusCode).toBe(410);
        expect(wrong.body).toContain('invalid_code');
      }
      const blocked = await browser.get(`/interaction?code=${started.code}`);
      expect(blocked.statusCode).toBe(429);
      expect(blocked.body).toContain('invalid_code');
    });
  });

  describe("the callback is the agent's callback_endpoint (§User Interaction, §Agent Provider Metadata)", () => {
    /** A refusal: 400, the page says so, and nothing redirects anywhere. */
    function expectRefused(page: Awaited<ReturnType<TestBrowser['get']>>, label: string) {
      expect(page.statusCode, label).toBe(400);
      expect(page.headers.location, label).toBeUndefined();
      expect(page.body, label).toContain('Callback not allowed');
    }

    it.each([
      ['a foreign origin', 'https://evil.example/callback'],
      ['the same origin, another path', 'https://agent.example/elsewhere'],
      ['the same origin, a longer path', 'https://agent.example/callback/more'],
      ['http instead of https', 'http://agent.example/callback'],
      ['loopback http (no longer accepted by itself in dev mode)', 'http://localhost:8080/callback'],
      ['userinfo', 'https://user:pw@agent.example/callback'],
      ['userinfo hiding another host', 'https://agent.example@evil.example/callback'],
      ['a scheme-relative URL', '//evil.example/callback'],
      ['a relative path', '/callback'],
      ['javascript:', 'javascript:alert(1)'],
    ])('refuses %s (400, no Location) without consuming the code', async (label, bad) => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      expectRefused(
        await browser.get(`/interaction?${new URLSearchParams({ code: started.code, callback: bad })}`),
        label,
      );
      // Still open: the same code with the AP's own callback_endpoint opens the consent page.
      const ok = await browser.get(
        `/interaction?${new URLSearchParams({ code: started.code, callback: CALLBACK })}`,
      );
      expect(ok.statusCode).toBe(200);
    });

    it('refuses every callback when the AP publishes no callback_endpoint; without one the page works', async () => {
      const agent = newAgent(t, { ap: t.apWithoutCallback });
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      for (const callback of ['https://agent2.example/callback', 'https://evil.example/callback']) {
        expectRefused(
          await browser.get(`/interaction?${new URLSearchParams({ code: started.code, callback })}`),
          callback,
        );
      }
      const done = await decide(browser, started.code, 'approve', null);
      expect(done.statusCode).toBe(200);
      expect(done.headers.location).toBeUndefined();
      expect(done.body).toContain('You allowed the agent');
    });

    it("refuses the callback when the AP's metadata cannot be fetched", async () => {
      const { vi } = await import('vitest');
      const { DiscoveryError } = await import('@aauth-ref/core');
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      const spy = vi
        .spyOn(t.remoteKeys, 'metadata')
        .mockRejectedValue(new DiscoveryError('network', 'connect ECONNREFUSED'));
      try {
        expectRefused(
          await browser.get(
            `/interaction?${new URLSearchParams({ code: started.code, callback: CALLBACK })}`,
          ),
          'unreachable',
        );
      } finally {
        spy.mockRestore();
      }
    });

    it('an expired code with a foreign callback is refused (400), not redirected with interaction_expired', async () => {
      const agent = newAgent(t);
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      t.clock.advance(601_000);
      for (const bad of ['https://evil.example/callback', 'https://agent.example/elsewhere']) {
        expectRefused(
          await browser.get(`/interaction?${new URLSearchParams({ code: started.code, callback: bad })}`),
          bad,
        );
      }
      // The agent's own callback still learns of the expiry (§Interaction Callback Errors).
      const page = await browser.get(
        `/interaction?${new URLSearchParams({ code: started.code, callback: CALLBACK })}`,
      );
      expect(page.statusCode).toBe(303);
      expect(page.headers.location).toBe(`${CALLBACK}?error=interaction_expired`);
    });

    it("an agent of another AP cannot borrow the stub AP's callback_endpoint", async () => {
      const agent = newAgent(t, { ap: t.apWithoutCallback });
      const started = await startInteraction(agent);
      const browser = await signedInBrowser(t);
      expectRefused(
        await browser.get(`/interaction?${new URLSearchParams({ code: started.code, callback: CALLBACK })}`),
        'borrowed',
      );
    });
  });

  describe('capabilities gating (§AAuth-Capabilities Request Header)', () => {
    it('without interaction declared and no person token: 401 requirement=person-token, never 202', async () => {
      const agent = newAgent(t);
      for (const headers of [
        {},
        { 'aauth-capabilities': 'clarification, payment' },
        { 'aauth-capabilities': '(' },
      ] as Record<string, string>[]) {
        const response = await send(t, {
          path: '/api/journal',
          key: agent.key,
          signatureKey: agent.agentToken,
          headers,
        });
        expect(response.statusCode).toBe(401);
        expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
      }
    });

    it('without interaction declared but a verified person token for the key: 401 requirement=auth-token, then served on the auth token', async () => {
      const agent = newAgent(t);
      const pt = personToken(t, agent.key, { sub: 'gated' });
      expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: pt })).statusCode).toBe(200);
      const challenge = await send(t, {
        path: '/api/journal',
        key: agent.key,
        signatureKey: agent.agentToken,
      });
      expect(challenge.statusCode).toBe(401);
      expect(resourceTokenOf(challenge)).toBeTruthy();
      const served = await send(t, {
        path: '/api/journal',
        key: agent.key,
        signatureKey: authToken(t, agent.key, { sub: 'gated', scope: 'notes.read' }),
      });
      expect(served.statusCode).toBe(200);
      expect(served.json()).toMatchObject({ via: 'auth-token', account: null });
    });

    it('with interaction declared: 202 requirement=interaction; unsigned: 401 requirement=agent-token', async () => {
      const agent = newAgent(t);
      await startInteraction(agent);
      const unsigned = await sendUnsigned(t, { path: '/api/journal' });
      expect(unsigned.statusCode).toBe(401);
      expect(unsigned.headers['aauth-requirement']).toBe('requirement=agent-token');
    });
  });
});
