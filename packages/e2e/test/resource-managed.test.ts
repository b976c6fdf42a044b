import { DEV, parseAAuthAccess, parseAAuthRequirement } from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAgent, type TestAgent } from './support/agents.js';
import { RESOURCE_ACCOUNTS, type Stack, startStack } from './support/stack.js';

/**
 * Resource-managed (two-party) access end to end (§Resource-Managed Authorization, §AAuth-Access
 * Response Header): the agent declares `interaction`, the resource sends its own person (carol, an
 * account at the resource, not at the PS) to its own consent page, and the poll delivers a session
 * token in `AAuth-Access`. Later calls carry it as `Authorization: AAuth <token>`, covered by the
 * signature; the resource rolls it after `SESSION_TOKEN_ROLL_SECONDS` (the old value keeps working
 * for `SESSION_TOKEN_GRACE_SECONDS`) and refuses it once the grant ends.
 */

const CAROL = RESOURCE_ACCOUNTS.carol;
const ROLL_SECONDS = 900;
const GRACE_SECONDS = 60;
/** Shorter than the agent token's hour, so the agent keeps the key the session is bound to. */
const GRANT_SECONDS = 1200;

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
let firstToken: string;

const journal = () => new URL('/api/journal', stack.rs.issuer).href;

async function session(): Promise<string | undefined> {
  return (await test.store.read('sessions'))?.[stack.rs.issuer];
}

/** GET /api/journal signed with the agent's key and token, carrying `token` (outside the SDK). */
async function journalWith(token: string): Promise<Response> {
  const { key, agentToken } = await test.credentials();
  return signedFetch(journal(), {
    key,
    signatureKey: agentToken,
    clock,
    headers: { authorization: `AAuth ${token}` },
    additionalComponents: ['authorization'],
  });
}

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock, {
    rs: {
      env: {
        SESSION_TOKEN_ROLL_SECONDS: String(ROLL_SECONDS),
        SESSION_TOKEN_GRACE_SECONDS: String(GRACE_SECONDS),
        SESSION_TOKEN_TTL_SECONDS: String(GRANT_SECONDS),
      },
    },
  });
  // alice (at the PS) approves the enrollment; carol (at the resource) consents there.
  test = createTestAgent({
    clock,
    account: (prompt) => (prompt.server === stack.rs.issuer ? CAROL : stack.alice),
  });
  await test.agent.enroll(stack.ps.issuer, { name: 'Journal reader', platform: 'e2e' });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('resource-managed access: session tokens (§Resource-Managed Authorization)', () => {
  it('202 requirement=interaction at the resource, consent on its own page, AAuth-Access on the poll', async () => {
    const from = test.exchanges.length;
    // The SDK's answer is the poll's: 200 with the session token, the grant's scope (§Resource-Managed Authorization).
    const res = await test.agent.fetch(journal());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'authorized', scope: 'notes.read' });

    const exchanges = test.exchanges.slice(from);
    const first = exchanges[0]!;
    expect(first.url).toBe(journal());
    expect(first.requestHeaders['aauth-capabilities']).toContain('interaction');
    expect(first.status).toBe(202);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const location = new URL(first.headers.get('location')!, stack.rs.issuer);
    expect(location.origin).toBe(stack.rs.issuer);
    expect(location.pathname).toMatch(/^\/pending\/[A-Za-z0-9_-]+$/);
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThanOrEqual(0);
    expect(parseAAuthRequirement(first.headers.get('aauth-requirement') ?? '', DEV)).toMatchObject({
      requirement: 'interaction',
      url: `${stack.rs.issuer}/interaction`,
      code: expect.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/),
    });
    // The person decided at the resource (after the PS declined to relay: nobody is signed in there).
    expect(test.interactions.at(-1)).toMatchObject({ server: stack.rs.issuer, decision: 'Approve' });

    // The poll that completed it: 200 with the session token (§AAuth-Access Response Header).
    const delivered = exchanges.find((e) => e.headers.get('aauth-access') !== null)!;
    expect(delivered.url).toBe(location.href);
    expect(delivered.status).toBe(200);
    expect(delivered.headers.get('cache-control')).toBe('no-store');
    firstToken = parseAAuthAccess(delivered.headers.get('aauth-access')!)!;
    expect(firstToken).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
    expect(await session()).toBe(firstToken);

    // The next call carries it as Authorization: AAuth, covered by the signature, and is served.
    const next = await test.agent.fetch(journal());
    expect(await next.json()).toEqual({
      account: 'carol',
      via: 'session-token',
      scope: 'notes.read',
      notes: [],
    });
    const retried = test.exchanges.at(-1)!;
    expect(retried.requestHeaders.authorization).toBe(`AAuth ${firstToken}`);
    expect(retried.requestHeaders['signature-input']).toContain('"authorization"');
  });

  it('the session token is never a bearer token: unsigned it is refused (§AAuth-Access Security)', async () => {
    const res = await fetch(journal(), { headers: { authorization: `AAuth ${firstToken}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_request');
  });

  it('rolls after the roll interval: a new AAuth-Access value, the old one valid only during the grace', async () => {
    clock.advance((ROLL_SECONDS + 1) * 1000);
    const from = test.exchanges.length;
    const res = await test.agent.fetch(journal());
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ account: 'carol', via: 'session-token' });
    const rolledHeader = test.exchanges.slice(from).at(-1)!.headers.get('aauth-access');
    expect(rolledHeader).not.toBeNull();
    const rolled = parseAAuthAccess(rolledHeader!)!;
    expect(rolled).not.toBe(firstToken);
    expect(await session()).toBe(rolled);

    // In flight with the old value: still served, and not rolled again.
    const inGrace = await journalWith(firstToken);
    expect([inGrace.status, inGrace.headers.get('signature-error')]).toEqual([200, null]);
    expect(inGrace.headers.get('aauth-access')).toBeNull();

    clock.advance((GRACE_SECONDS + 1) * 1000);
    const late = await journalWith(firstToken);
    expect(late.status).toBe(401);
    expect(late.headers.get('signature-error')).toBe('error=invalid_request');
    expect(late.headers.get('aauth-requirement')).toBeNull();

    const current = await journalWith(rolled);
    expect(current.status).toBe(200);
    expect(await current.json()).toMatchObject({ account: 'carol', via: 'session-token' });
  });

  it('a session token signed by another key is refused (bound to the agent key, §AAuth-Access Security)', async () => {
    const other = createTestAgent({ clock, account: stack.alice });
    await other.agent.enroll(stack.ps.issuer, { name: 'Another agent', platform: 'e2e' });
    const { key, agentToken } = await other.credentials();
    const token = (await session())!;
    const res = await signedFetch(journal(), {
      key,
      signatureKey: agentToken,
      clock,
      headers: { authorization: `AAuth ${token}` },
      additionalComponents: ['authorization'],
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_request');
  });

  it('once the grant ends the token is refused; the SDK drops it and the resource asks again', async () => {
    const token = (await session())!;
    // Past the grant's end (it began before the roll), still within the agent token's lifetime.
    clock.advance((GRANT_SECONDS - ROLL_SECONDS) * 1000);
    const refused = await journalWith(token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('signature-error')).toBe('error=invalid_request');

    // carol says "Not now": the agent's call ends without access and without the stale token.
    test.decide = 'Deny';
    try {
      await expect(test.agent.fetch(journal())).rejects.toMatchObject({ status: 403 });
    } finally {
      test.decide = 'Approve';
    }
    expect(await session()).toBeUndefined();
  });
});
