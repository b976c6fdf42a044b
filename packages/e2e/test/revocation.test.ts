import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import type { FormMatcher } from './support/person.js';
import type { OutboundCall } from './support/stack.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * The revocation cascade end to end (§Token Revocation): alice revokes at the PS dashboard (over
 * HTTP, as she would in a browser), the PS sends signed `{iss, jti}` notices (`jwks_uri`, as itself)
 * to the resource's `revocation_endpoint`, and the resource refuses the revoked tokens from then on
 * with `401 Signature-Error: invalid_jwt` (ARCHITECTURE, *Request path*). The notices run after the
 * dashboard's answer; the test waits for the resource's answer to each one.
 */

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;

const rsUrl = (path: string) => new URL(path, stack.rs.issuer).href;

/** alice, signed in at the PS dashboard, clicks Revoke in the form named `form`. */
async function revokeAtDashboard(form: string | FormMatcher): Promise<void> {
  const dashboard = await test.browser.openSignedIn(`${stack.ps.issuer}/dashboard`, stack.alice);
  expect(dashboard.url.pathname).toBe('/dashboard');
  const after = await test.browser.submit(dashboard, 'Revoke', {}, form);
  expect([after.url.pathname, after.status]).toEqual(['/dashboard', 200]);
  await test.browser.signOut(stack.ps.issuer);
}

/** The notice for `jti`, once the resource answered it. */
function noticeFor(jti: unknown): Promise<OutboundCall> {
  return stack.ps.outbound.waitFor(
    (call) => call.url.startsWith(stack.rs.issuer) && (call.body as { jti?: unknown }).jti === jti,
  );
}

/** GET `path` at the resource signed with the agent's key under `token` (outside the SDK). */
async function presenting(path: string, token: string): Promise<Response> {
  const { key } = await test.credentials();
  return signedFetch(rsUrl(path), { key, signatureKey: token, clock });
}

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  test = createTestAgent({ clock, account: stack.alice });
  await test.agent.enroll(stack.ps.issuer, { name: 'Revocable helper', platform: 'e2e' });
  expect((await test.agent.fetch(rsUrl('/api/notes'))).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('revocation cascade PS → resource (§Token Revocation)', () => {
  it('alice revokes the auth token: the resource refuses it with 401 invalid_jwt; the agent gets a new one', async () => {
    const authToken = (await test.token('auth', stack.rs.issuer))!;
    const { iss, jti } = claimsOf(authToken);
    expect(iss).toBe(stack.ps.issuer);
    expect((await presenting('/api/notes', authToken)).status).toBe(200);

    await revokeAtDashboard((form) => form.fields.get('jti') === jti);
    const notice = await noticeFor(jti);
    expect(notice).toMatchObject({ url: `${stack.rs.issuer}/revoke`, body: { iss, jti }, status: 200 });

    const refused = await presenting('/api/notes', authToken);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('signature-error')).toBe('error=invalid_jwt');
    expect(refused.headers.get('aauth-requirement')).toBeNull();
    expect(await refused.json()).toMatchObject({ type: 'urn:ietf:params:sig-error:invalid_jwt' });

    // The SDK drops the refused token and asks its PS again (consent already given: no interaction).
    const before = test.interactions.length;
    const res = await test.agent.fetch(rsUrl('/api/notes'));
    expect(res.status).toBe(200);
    expect(test.interactions.length).toBe(before);
    const renewed = (await test.token('auth', stack.rs.issuer))!;
    expect(claimsOf(renewed).jti).not.toBe(jti);
  });

  it('alice disconnects the agent: its auth and person tokens are revoked at the resource (401 invalid_jwt)', async () => {
    const authToken = (await test.token('auth', stack.rs.issuer))!;
    const personToken = (await test.token('person', stack.rs.issuer))!;
    expect((await presenting('/api/me', personToken)).status).toBe(200);
    const { sub } = await test.agent.whoami().then((identity) => ({ sub: identity.agent }));

    await revokeAtDashboard(`Disconnect ${sub}`);
    const notices = await Promise.all([
      noticeFor(claimsOf(authToken).jti),
      noticeFor(claimsOf(personToken).jti),
    ]);
    expect(notices.map((n) => n.status)).toEqual([200, 200]);

    for (const [path, token] of [
      ['/api/notes', authToken],
      ['/api/me', personToken],
    ] as const) {
      const refused = await presenting(path, token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('signature-error')).toBe('error=invalid_jwt');
    }
  });

  it('after the disconnect the PS refuses the agent token: 400 invalid_agent_token (§Token Revocation)', async () => {
    await test.store.write('auth-tokens', {});
    await test.store.write('person-tokens', {});
    const attempt = test.agent.fetch(rsUrl('/api/notes'));
    await expect(attempt).rejects.toMatchObject({ status: 400, error: 'invalid_agent_token' });
    // Refused by the PS (person or auth token endpoint), whichever the agent reached first.
    const refused = test.exchanges.at(-1)!;
    expect([refused.method, new URL(refused.url).origin, refused.status]).toEqual([
      'POST',
      stack.ps.issuer,
      400,
    ]);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'invalid_agent_token' });
    expect(await test.token('auth', stack.rs.issuer)).toBeUndefined();
  });
});
