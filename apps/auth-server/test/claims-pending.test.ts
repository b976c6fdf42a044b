import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AS_ISSUER,
  decodePayload,
  makeRequestTokens,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { TEST_POLICY } from './support/policy.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ policy: TEST_POLICY, env: { PENDING_TTL_SECONDS: '60' } });
});
afterAll(async () => {
  await t?.close();
});

/** Starts a token request the policy answers with `requirement=claims` (billing needs `email`). */
async function startClaims(scope = 'billing read') {
  const tokens = makeRequestTokens(t, { scope });
  const res = await sendAsPs(t, { method: 'POST', path: '/token', body: tokens.body });
  expect(res.statusCode).toBe(202);
  const location = res.headers.location as string;
  return { tokens, res, location, path: new URL(location).pathname };
}

describe('claims required (§Claims Required, §Deferred Responses)', () => {
  it('202 with Location, Retry-After, no-store, AAuth-Requirement: requirement=claims and required_claims', async () => {
    const { res, location } = await startClaims();
    expect(location.startsWith(`${AS_ISSUER}/token/pending/`)).toBe(true);
    // §Pending URL Security: unguessable (256 bits).
    expect(location.slice(`${AS_ISSUER}/token/pending/`.length)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.headers['retry-after']).toBe('0');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['aauth-requirement']).toBe('requirement=claims');
    expect(res.json()).toEqual({ status: 'pending', required_claims: ['email'] });
  });

  it('round trip: POST {sub, email} → 202, then GET → 200 with the auth token; then 410', async () => {
    const { tokens, path } = await startClaims();
    const posted = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: tokens.sub, email: 'ann@example.com' },
    });
    expect(posted.statusCode).toBe(202);
    expect(posted.headers.location).toBe(`${AS_ISSUER}${path}`);
    expect(posted.headers['retry-after']).toBe('0');
    expect(posted.headers['aauth-requirement']).toBeUndefined();
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(200);
    expect(polled.headers['cache-control']).toBe('no-store');
    const claims = decodePayload(polled.json().auth_token);
    expect(claims).toMatchObject({ iss: AS_ISSUER, sub: tokens.sub, scope: 'billing read' });
    const again = await sendAsPs(t, { method: 'GET', path });
    expect(again.statusCode).toBe(410);
    expect(again.json().error).toBe('gone');
  });

  it('claims that fail the condition narrow the grant (billing omitted, read granted)', async () => {
    const { tokens, path } = await startClaims();
    await sendAsPs(t, { method: 'POST', path, body: { sub: tokens.sub, email: 'eve@elsewhere.example' } });
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(200);
    expect(decodePayload(polled.json().auth_token).scope).toBe('read');
  });

  it('claims that leave nothing granted end in 403 denied, then 410', async () => {
    const { tokens, path } = await startClaims('billing');
    await sendAsPs(t, { method: 'POST', path, body: { sub: tokens.sub } });
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(403);
    expect(polled.json().error).toBe('denied');
    expect((await sendAsPs(t, { method: 'GET', path })).statusCode).toBe(410);
  });

  it('a GET before the claims arrive repeats the claims requirement', async () => {
    const { path } = await startClaims();
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(202);
    expect(polled.headers['aauth-requirement']).toBe('requirement=claims');
    expect(polled.json()).toEqual({ status: 'pending', required_claims: ['email'] });
  });

  it('a sub other than the resource token sub is 400 invalid_request, and the request still waits', async () => {
    const { tokens, path } = await startClaims();
    const wrong = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: 'someone-else', email: 'a@example.com' },
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error).toBe('invalid_request');
    const missing = await sendAsPs(t, { method: 'POST', path, body: { email: 'a@example.com' } });
    expect(missing.statusCode).toBe(400);
    const right = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: tokens.sub, email: 'a@example.com' },
    });
    expect(right.statusCode).toBe(202);
  });

  it('a POST with an action member is 400 invalid_request (not a claims answer)', async () => {
    const { tokens, path } = await startClaims();
    const res = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { action: 'clarification_response', sub: tokens.sub, email: 'a@example.com' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('claims are accepted only while the AS waits for them (a second POST is 400)', async () => {
    const { tokens, path } = await startClaims();
    const body = { sub: tokens.sub, email: 'a@example.com' };
    expect((await sendAsPs(t, { method: 'POST', path, body })).statusCode).toBe(202);
    // A new signature (an identical one would be refused as a replay before the route runs).
    t.clock.advance(1000);
    const second = await sendAsPs(t, { method: 'POST', path, body });
    expect(second.statusCode).toBe(400);
    expect(second.json().error).toBe('invalid_request');
  });
});

describe('pending URL security (§Pending URL Security: only the requesting PS)', () => {
  it('another PS gets 404 for GET, POST and DELETE; the owner still can poll', async () => {
    const { tokens, path } = await startClaims();
    const other = t.parties.otherPs;
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await sendAsPs(t, { method, path, ps: other });
      expect(res.statusCode).toBe(404);
      expect(res.json().error).toBe('not_found');
    }
    const post = await sendAsPs(t, {
      method: 'POST',
      path,
      ps: other,
      body: { sub: tokens.sub, email: 'a@example.com' },
    });
    expect(post.statusCode).toBe(404);
    expect((await sendAsPs(t, { method: 'GET', path })).statusCode).toBe(202);
  });

  it('an unknown pending id is 404', async () => {
    const res = await sendAsPs(t, { method: 'GET', path: `/token/pending/${'A'.repeat(43)}` });
    expect(res.statusCode).toBe(404);
  });

  it('polling requires the PS signature (jwks_uri): unsigned is 401', async () => {
    const { path } = await startClaims();
    const res = await t.app.inject({ method: 'GET', url: path });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('invalid_request');
  });
});

describe('terminal codes (§Polling Error Codes, §Deferred Response State Machine)', () => {
  it('DELETE cancels: 204, then 410 gone', async () => {
    const { path } = await startClaims();
    const res = await sendAsPs(t, { method: 'DELETE', path });
    expect(res.statusCode).toBe(204);
    expect((await sendAsPs(t, { method: 'GET', path })).statusCode).toBe(410);
  });

  it('a pending request past its lifetime is 408 expired, then 410', async () => {
    const { path } = await startClaims();
    t.clock.advance(61_000);
    const res = await sendAsPs(t, { method: 'GET', path });
    expect(res.statusCode).toBe(408);
    expect(res.json().error).toBe('expired');
    expect((await sendAsPs(t, { method: 'GET', path })).statusCode).toBe(410);
  });

  it('claims POSTed after expiry are 408 expired', async () => {
    const { tokens, path } = await startClaims();
    t.clock.advance(61_000);
    const res = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: tokens.sub, email: 'a@example.com' },
    });
    expect(res.statusCode).toBe(408);
  });
});
