import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * Deferred auth-token delivery at the resource (§Deferred Delivery): a state-changing call that earns
 * `requirement=auth-token` is held instead of refused — `202` with the resource token and a pending
 * URL bound to the agent's key. The agent gets the auth token from its PS meanwhile (alice consents
 * at the PS over HTTP) and presents it on the next poll of that URL, which runs the held call once;
 * the same auth token polling again gets the stored result, never a second execution.
 */

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
let noteId: string;
let pendingUrl: string;
let deletion: unknown;
/** The auth token the held call ran with. */
let deliveredWith: string;

const notes = () => new URL('/api/notes', stack.rs.issuer).href;

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  test = createTestAgent({ clock, account: stack.alice });
  await test.agent.enroll(stack.ps.issuer, { name: 'Tidy-up helper', platform: 'e2e' });
  // A note to delete, written with a notes.write auth token alice consented to.
  const created = await test.agent.fetch(notes(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'Delete me later' }),
  });
  expect(created.status).toBe(201);
  noteId = ((await created.json()) as { note: { id: string } }).note.id;
  // The agent keeps its person token but no longer holds an auth token for the resource.
  await test.store.write('auth-tokens', {});
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('deferred auth-token delivery at the resource (§Deferred Delivery)', () => {
  it('DELETE is held (202 + resource token + pending URL) and runs on the poll presenting the auth token', async () => {
    const from = test.exchanges.length;
    const res = await test.agent.fetch(`${notes()}/${noteId}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    deletion = await res.json();
    expect(deletion).toEqual({ deleted: noteId });

    const exchanges = test.exchanges.slice(from);
    const held = exchanges[0]!;
    expect([held.method, held.url, held.status]).toEqual(['DELETE', `${notes()}/${noteId}`, 202]);
    expect(held.headers.get('cache-control')).toBe('no-store');
    expect(held.headers.get('retry-after')).toMatch(/^\d+$/);
    const requirement = parseAAuthRequirement(held.headers.get('aauth-requirement') ?? '', DEV);
    expect(requirement).toMatchObject({ requirement: 'auth-token', 'resource-token': expect.any(String) });
    const resourceToken = (requirement as { 'resource-token': string })['resource-token'];
    const { key } = await test.credentials();
    const person = claimsOf((await test.token('person', stack.rs.issuer))!);
    expect(claimsOf(resourceToken)).toMatchObject({
      iss: stack.rs.issuer,
      aud: stack.ps.issuer,
      sub: person.sub,
      presented_jti: person.jti,
      agent_jkt: key.thumbprint,
      scope: 'notes.write',
    });
    pendingUrl = new URL(held.headers.get('location')!, stack.rs.issuer).href;
    expect(new URL(pendingUrl).pathname).toMatch(/^\/pending\/[A-Za-z0-9_-]+$/);

    // Meanwhile the agent asked its PS (consent already given: no new interaction).
    const toPs = exchanges.filter((e) => e.url.startsWith(stack.ps.issuer));
    expect(toPs.map((e) => [e.method, new URL(e.url).pathname, e.status])).toContainEqual([
      'POST',
      '/token',
      200,
    ]);
    // The poll that ran the call presented the new auth token.
    const ran = exchanges.at(-1)!;
    expect([ran.method, ran.url, ran.status]).toEqual(['GET', pendingUrl, 200]);
    const authToken = (await test.token('auth', stack.rs.issuer))!;
    deliveredWith = authToken;
    expect(ran.requestHeaders['signature-key']).toContain(authToken);
    expect(claimsOf(authToken)).toMatchObject({
      iss: stack.ps.issuer,
      aud: stack.rs.issuer,
      scope: 'notes.write',
    });

    // The note is gone (reading takes a step-up to notes.read: a new auth token).
    const list = await test.agent.fetch(notes());
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ notebook: 'personal', notes: [] });
  });

  it('the same auth token polling again gets the stored result, not a second execution', async () => {
    const { key } = await test.credentials();
    const again = await signedFetch(pendingUrl, { key, signatureKey: deliveredWith, clock });
    expect(again.status).toBe(200);
    expect(again.headers.get('cache-control')).toBe('no-store');
    expect(await again.json()).toEqual(deletion);
  });

  it('after the call ran, a poll with another credential (agent token, a newer auth token) is 410', async () => {
    const { key, agentToken } = await test.credentials();
    const bare = await signedFetch(pendingUrl, { key, signatureKey: agentToken, clock });
    expect(bare.status).toBe(410);
    const newer = (await test.token('auth', stack.rs.issuer))!;
    expect(newer).not.toBe(deliveredWith);
    const stepped = await signedFetch(pendingUrl, { key, signatureKey: newer, clock });
    expect(stepped.status).toBe(410);
  });

  it('another key polling the pending URL gets 404 (§Pending URL Security)', async () => {
    const other = createTestAgent({ clock, account: stack.alice });
    await other.agent.enroll(stack.ps.issuer, { name: 'Someone else', platform: 'e2e' });
    const { key, agentToken } = await other.credentials();
    const res = await signedFetch(pendingUrl, { key, signatureKey: agentToken, clock });
    expect(res.status).toBe(404);
  });
});
