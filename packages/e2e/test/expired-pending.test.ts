import { Expired } from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAgent, type TestAgent } from './support/agents.js';
import { RESOURCE_ACCOUNTS, type Stack, startStack } from './support/stack.js';

/**
 * Expired pending requests (§Deferred Responses, §Polling Error Codes): a consent the person never
 * gives. The interaction is handed over but nobody acts; the shared fake clock moves past the pending
 * request's lifetime (`PENDING_TTL_SECONDS`, 600 s by default at the PS and the resource); the next
 * poll answers `408 expired`, and every poll after that terminal answer `410`.
 */

const PENDING_TTL_SECONDS = 600;

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  test = createTestAgent({
    clock,
    account: (prompt) => (prompt.server === stack.rs.issuer ? RESOURCE_ACCOUNTS.carol : stack.alice),
    // The person walks away: by the next poll the pending request has outlived its lifetime.
    onIgnore: () => clock.advance((PENDING_TTL_SECONDS + 1) * 1000),
  });
  await test.agent.enroll(stack.ps.issuer, { name: 'Patient helper', platform: 'e2e' });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

/** The `Location` of the last 202 the agent got from `origin`, absolute. */
function lastPendingUrl(origin: string): string {
  const deferred = test.exchanges.filter((e) => e.status === 202 && e.url.startsWith(origin)).at(-1);
  expect(deferred?.headers.get('location')).toEqual(expect.any(String));
  return new URL(deferred!.headers.get('location')!, origin).href;
}

async function poll(url: string): Promise<Response> {
  const { key, agentToken } = await test.credentials();
  return signedFetch(url, { key, signatureKey: agentToken, clock });
}

describe('expired pending requests (§Deferred Responses)', () => {
  it('PS: a person token consent never given → 408 expired on the poll after expiry, then 410', async () => {
    test.decide = 'Ignore';
    try {
      const attempt = test.agent.fetch(new URL('/api/me', stack.rs.issuer).href);
      await expect(attempt).rejects.toBeInstanceOf(Expired);
      await expect(attempt).rejects.toMatchObject({ status: 408, error: 'expired' });
    } finally {
      test.decide = 'Approve';
    }
    const pendingUrl = lastPendingUrl(stack.ps.issuer);
    expect(new URL(pendingUrl).pathname).toMatch(/^\/pending\/[A-Za-z0-9_-]+$/);
    const expired = test.exchanges.filter((e) => e.url === pendingUrl).at(-1)!;
    expect(expired.status).toBe(408);
    expect(expired.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    // §Deferred Response State Machine: 410 — gone, MUST NOT retry.
    const after = await poll(pendingUrl);
    expect(after.status).toBe(410);
    expect(after.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('resource: a resource-managed consent never given → 408 expired, then 410', async () => {
    test.decide = 'Ignore';
    try {
      const attempt = test.agent.fetch(new URL('/api/journal', stack.rs.issuer).href);
      await expect(attempt).rejects.toMatchObject({ status: 408, error: 'expired' });
    } finally {
      test.decide = 'Approve';
    }
    const pendingUrl = lastPendingUrl(stack.rs.issuer);
    expect(test.exchanges.filter((e) => e.url === pendingUrl).at(-1)?.status).toBe(408);
    expect((await poll(pendingUrl)).status).toBe(410);
  });

  it('the person opening the expired interaction afterwards is told the code no longer works', async () => {
    const prompt = test.interactions.filter((i) => i.server === stack.ps.issuer).at(-1)!;
    const page = await test.browser.openSignedIn(
      `${prompt.url}?code=${encodeURIComponent(prompt.code)}`,
      stack.alice,
    );
    expect(page.url.pathname).toBe('/interaction');
    expect([408, 410]).toContain(page.status);
    await test.browser.signOut(stack.ps.issuer);
  });
});
