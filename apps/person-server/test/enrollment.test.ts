import {
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  type KeyPair,
  parseAAuthRequirement,
} from '@aauth-ref/core';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  Browser,
  hwkMember,
  ISSUER,
  jktJwtMember,
  newKey,
  sendSigned,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

function enroll(
  durable: KeyPair,
  body: Record<string, unknown> = { name: 'Test agent', platform: 'web', device: 'laptop' },
) {
  return sendSigned(t, {
    method: 'POST',
    path: '/agent/enroll',
    key: durable,
    signatureKey: hwkMember(durable),
    body,
  });
}

function poll(durable: KeyPair, location: string, headers?: Record<string, string>) {
  return sendSigned(t, {
    method: 'GET',
    path: new URL(location).pathname,
    key: durable,
    signatureKey: hwkMember(durable),
    ...(headers ? { headers } : {}),
  });
}

function requirementOf(res: LightMyRequestResponse) {
  return parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV);
}

async function approveInBrowser(browser: Browser, code: string, decision: 'approve' | 'deny' = 'approve') {
  const page = await browser.get(`/interaction?code=${encodeURIComponent(code)}`);
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('>Approve</button>');
  expect(page.body).toContain('>Deny</button>');
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  return browser.post('/interaction', { _csrf: browser.csrf(), request: id, decision });
}

async function signedInBrowser(person = ALICE) {
  const browser = new Browser(t);
  expect((await browser.signIn(person.username, person.password)).statusCode).toBe(303);
  return browser;
}

describe('enrollment and agent tokens (bootstrap draft, Web App Enrollment and Two-Key Refresh)', () => {
  it('hwk enroll → 202 with code → approve → 200 without token → jkt-jwt agent token that verifies', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    // §Pending Response: Location, Retry-After and Cache-Control: no-store are REQUIRED.
    expect(res.statusCode).toBe(202);
    expect(res.headers.location).toMatch(new RegExp(`^${ISSUER}/agent/enroll/pending/[A-Za-z0-9_-]{43}$`));
    expect(res.headers['retry-after']).toBe('2');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ status: 'pending' });
    const requirement = requirementOf(res);
    expect(requirement).toMatchObject({ requirement: 'interaction', url: `${ISSUER}/interaction` });
    const code = (requirement as { code: string }).code;
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const location = String(res.headers.location);

    t.clock.advance(2000);
    const waiting = await poll(durable, location);
    expect(waiting.statusCode).toBe(202);
    expect(waiting.json()).toEqual({ status: 'pending' });
    expect(waiting.headers['aauth-requirement']).toBeDefined();

    const browser = await signedInBrowser();
    const decided = await approveInBrowser(browser, code);
    expect(decided.statusCode).toBe(200);
    expect(decided.body).toContain('Agent connected');

    t.clock.advance(2000);
    const approved = await poll(durable, location);
    expect(approved.statusCode).toBe(200);
    const result = approved.json();
    expect(result).toEqual({
      status: 'approved',
      agent: expect.stringMatching(/^aauth:[0-9a-z]{26}@localhost:3001$/),
    });
    expect(result.agent_token).toBeUndefined();
    // §Pending URL Security: after a terminal response the pending URL is 410.
    t.clock.advance(2000);
    expect((await poll(durable, location)).statusCode).toBe(410);

    const ephemeral = newKey();
    const tokenRes = await sendSigned(t, {
      method: 'POST',
      path: '/agent/token',
      key: ephemeral,
      signatureKey: jktJwtMember(t, durable, ephemeral),
      body: {},
    });
    expect(tokenRes.statusCode).toBe(200);
    expect(tokenRes.headers['cache-control']).toBe('no-store');
    const { agent_token, expires_in } = tokenRes.json();
    expect(expires_in).toBe(3600);
    const apMetadata = (await t.app.inject({ method: 'GET', url: `/.well-known/${DWK.agent}` })).json();
    const verifier = createTokenVerifier({
      clock: t.clock,
      keys: createLocalKeyResolver([
        { issuer: ISSUER, dwk: DWK.agent, keys: t.apKeys.published, metadata: apMetadata },
      ]),
      identifierPolicy: DEV,
    });
    const verified = await verifier.verify(agent_token, { kinds: ['agent'] });
    expect(verified.header.kid).toBe(t.apKeys.active.kid);
    expect(verified.claims).toMatchObject({
      iss: ISSUER,
      dwk: 'aauth-agent.json',
      sub: result.agent,
      ps: ISSUER,
      cnf: { jwk: { x: ephemeral.jwk.x } },
    });
    expect(verified.claims.exp - verified.claims.iat).toBe(3600);
    expect(verified.claims.parent_agent).toBeUndefined();
    expect(await t.prisma.issuedAgentToken.count({ where: { sub: result.agent } })).toBe(1);
    // The binding of §Agent-Person Binding exists for (this AP, agent) → alice.
    const dashboard = await browser.get('/dashboard');
    expect(dashboard.body).toContain(result.agent);

    // Enrolling the same durable key again answers at once.
    const again = await enroll(durable);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ status: 'approved', agent: result.agent });

    // A sub-agent token (§Sub-Agents) for that agent, and refusal of a sub-agent as parent (§Single-Level Depth).
    const subKey = newKey();
    const sub = await sendSigned(t, {
      method: 'POST',
      path: '/agent/subagent-token',
      key: ephemeral,
      signatureKey: agent_token,
      body: { jwk: subKey.jwk, discriminator: 'search1' },
    });
    expect(sub.statusCode).toBe(200);
    const subClaims = (await verifier.verify(sub.json().agent_token, { kinds: ['agent'] })).claims;
    const local = result.agent.slice('aauth:'.length, result.agent.indexOf('@'));
    expect(subClaims).toMatchObject({
      sub: `aauth:${local}+search1@localhost:3001`,
      parent_agent: result.agent,
      ps: ISSUER,
      cnf: { jwk: { x: subKey.jwk.x } },
    });
    const grandchild = await sendSigned(t, {
      method: 'POST',
      path: '/agent/subagent-token',
      key: subKey,
      signatureKey: sub.json().agent_token,
      body: { jwk: newKey().jwk },
    });
    expect(grandchild.statusCode).toBe(400);
    expect(grandchild.json().error).toBe('invalid_agent_token');
  });

  it('refuses an agent token for a durable key that is not enrolled (401 unknown_key)', async () => {
    const durable = newKey();
    const ephemeral = newKey();
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/agent/token',
      key: ephemeral,
      signatureKey: jktJwtMember(t, durable, ephemeral),
      body: {},
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('unknown_key');
  });

  it('refuses the durable key (hwk) where jwt is required, naming the accepted scheme', async () => {
    const durable = newKey();
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/agent/subagent-token',
      key: durable,
      signatureKey: hwkMember(durable),
      body: { jwk: newKey().jwk },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('unsupported_scheme');
    expect(res.headers['accept-signature-scheme']).toBe('jwt');
    const atToken = await sendSigned(t, {
      method: 'POST',
      path: '/agent/token',
      key: durable,
      signatureKey: hwkMember(durable),
      body: {},
    });
    expect(atToken.statusCode).toBe(401);
    expect(atToken.headers['accept-signature-scheme']).toBe('jkt-jwt');
  });

  it('answers a pending URL polled by another key with 404, never revealing it exists', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    t.clock.advance(2000);
    const other = newKey();
    const stranger = await poll(other, String(res.headers.location));
    expect(stranger.statusCode).toBe(404);
    expect(stranger.json().error).toBe('not_found');
    const unknown = await poll(other, `${ISSUER}/agent/enroll/pending/${'A'.repeat(43)}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe(stranger.body);
  });

  it('answers a poll faster than Retry-After with 429 slow_down (§Polling Error Codes)', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const fast = await poll(durable, String(res.headers.location));
    expect(fast.statusCode).toBe(429);
    expect(fast.json().error).toBe('slow_down');
    t.clock.advance(2000);
    expect((await poll(durable, String(res.headers.location))).statusCode).toBe(202);
  });

  it('deny → 403 denied, then 410; the callback-less flow shows a completion page', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const code = (requirementOf(res) as { code: string }).code;
    const browser = await signedInBrowser();
    const decided = await approveInBrowser(browser, code, 'deny');
    expect(decided.statusCode).toBe(200);
    t.clock.advance(2000);
    const denied = await poll(durable, String(res.headers.location));
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toBe('denied');
    t.clock.advance(2000);
    const gone = await poll(durable, String(res.headers.location));
    expect(gone.statusCode).toBe(410);
  });

  it('expires a pending request when the clock passes its lifetime → 408 expired, then 410', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    t.clock.advance(601_000);
    const expired = await poll(durable, String(res.headers.location));
    expect(expired.statusCode).toBe(408);
    expect(expired.json().error).toBe('expired');
    t.clock.advance(2000);
    expect((await poll(durable, String(res.headers.location))).statusCode).toBe(410);
    // §Interaction Code Format, Lifetime: the code expires with the request.
    const browser = await signedInBrowser();
    const page = await browser.get(`/interaction?code=${(requirementOf(res) as { code: string }).code}`);
    expect(page.statusCode).toBe(410);
  });

  it('cancels with DELETE: later polls are 410', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const path = new URL(String(res.headers.location)).pathname;
    const del = await sendSigned(t, {
      method: 'DELETE',
      path,
      key: durable,
      signatureKey: hwkMember(durable),
    });
    expect(del.statusCode).toBe(204);
    t.clock.advance(2000);
    expect((await poll(durable, String(res.headers.location))).statusCode).toBe(410);
  });
});

describe('interaction codes (§Interaction Code Format)', () => {
  it('accepts lowercase, no hyphen and I/L/O aliases; the code is single use', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const code = (requirementOf(res) as { code: string }).code;
    // Spell it as a person might: lowercase, no hyphen, aliases for 1 and 0.
    const typed = code.replace('-', '').toLowerCase().replaceAll('1', 'l').replaceAll('0', 'O');
    const browser = await signedInBrowser();
    const page = await browser.get(`/interaction?code=${typed}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Connect a new agent');
    expect(page.body).toContain('Test agent');
    // The request is now `interacting` (§Pending Response).
    t.clock.advance(2000);
    const polled = await poll(durable, String(res.headers.location));
    expect(polled.json()).toEqual({ status: 'interacting' });
    expect(polled.headers['aauth-requirement']).toBeUndefined();
    // Another person presenting the spent code is refused with invalid_code.
    const bob = await signedInBrowser(BOB);
    const reused = await bob.get(`/interaction?code=${code}`);
    expect(reused.statusCode).toBe(410);
    expect(reused.body).toContain('invalid_code');
  });

  it('asks for sign-in before anything about a code is revealed', async () => {
    const browser = new Browser(t);
    const res = await browser.get('/interaction?code=ABCD-EFGH');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(
      `/signin?return_to=${encodeURIComponent('/interaction?code=ABCD-EFGH')}`,
    );
    const form = await browser.get('/interaction');
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('<label for="field-code">Code</label>');
  });

  it('rate-limits wrong codes: after 5 failures even a valid code is refused', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const code = (requirementOf(res) as { code: string }).code;
    // Earlier tests' failures leave the window.
    t.clock.advance(16 * 60 * 1000);
    const res2 = await enroll(durable);
    const code2 = (requirementOf(res2) as { code: string }).code;
    const browser = await signedInBrowser(BOB);
    for (let i = 0; i < 5; i++) {
      const wrong = await browser.get(`/interaction?code=ZZZZ-ZZZ${i}`);
      expect(wrong.statusCode).toBe(410);
    }
    const limited = await browser.get(`/interaction?code=${code2}`);
    expect(limited.statusCode).toBe(429);
    expect(limited.body).toContain('invalid_code');
    // The request itself is untouched and still pending.
    t.clock.advance(2000);
    expect((await poll(durable, String(res2.headers.location))).json()).toEqual({ status: 'pending' });
    expect(code).not.toBe(code2);
    t.clock.advance(16 * 60 * 1000);
  });
});

describe('agent-person binding (§Agent-Person Binding)', () => {
  it('refuses a second person for an agent bound to someone else and leaves the request untouched', async () => {
    const durable = newKey();
    const first = await enroll(durable);
    // A byte-identical second request in the same second would be a replay.
    t.clock.advance(1000);
    const second = await enroll(durable);
    const alice = await signedInBrowser(ALICE);
    expect((await approveInBrowser(alice, (requirementOf(first) as { code: string }).code)).statusCode).toBe(
      200,
    );
    const bob = await signedInBrowser(BOB);
    const refused = await bob.get(`/interaction?code=${(requirementOf(second) as { code: string }).code}`);
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('connected to another person');
    t.clock.advance(2000);
    expect((await poll(durable, String(second.headers.location))).json()).toEqual({ status: 'pending' });
  });
});

describe('restart', () => {
  it('keeps a pending enrollment across a restart: approve after rebuild, poll returns 200', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    const code = (requirementOf(res) as { code: string }).code;
    await t.restart();
    const browser = await signedInBrowser();
    expect((await approveInBrowser(browser, code)).statusCode).toBe(200);
    t.clock.advance(2000);
    const approved = await poll(durable, String(res.headers.location));
    expect(approved.statusCode).toBe(200);
    expect(approved.json().status).toBe('approved');
  });
});
