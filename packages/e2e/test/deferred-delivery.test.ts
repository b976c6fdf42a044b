import { DEV, parseAAuthRequirement, R3_VOCABULARY_OPENAPI } from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * Deferred auth-token delivery at the resource (§Deferred Delivery) of a per-call operation (R3
 * §Per-Call Proposals): REST `DELETE` is annotated `per-call`, so the call that earns
 * `requirement=auth-token` is held — `202` with a resource token referencing a proposal for that one
 * call and a pending URL bound to the agent's key. The agent takes the resource token to its PS,
 * which asks alice (`POST /token` → `202`; she approves the proposal at the PS over HTTP), and
 * presents the per-call auth token on the next poll of that URL, which runs the held call once; the
 * same auth token polling again gets the stored result, never a second execution.
 */

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
let noteId: string;
let pendingUrl: string;
let deletion: unknown;
/** The per-call auth token the held call ran with. */
let deliveredWith: string;

const notes = () => new URL('/api/notes', stack.rs.issuer).href;
/** The per-call operation a REST `DELETE /api/notes/{id}` invokes (R3 §OpenAPI Vocabulary). */
const DELETE_NOTE = { vocabulary: R3_VOCABULARY_OPENAPI, operations: [{ operationId: 'deleteNote' }] };

/** The JWT of a `Signature-Key: sig=jwt;jwt="…"` request header. */
const jwtOf = (signatureKey: string | undefined) => /jwt="([^"]+)"/.exec(signatureKey ?? '')?.[1];

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  test = createTestAgent({ clock, account: stack.alice });
  await test.agent.enroll(stack.ps.issuer, { name: 'Tidy-up helper', platform: 'e2e' });
  // A note to delete, written with an auth token alice consented to.
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

describe('deferred auth-token delivery of a per-call operation (§Deferred Delivery, R3 §Per-Call Proposals)', () => {
  it('DELETE is held (202 + proposal resource token + pending URL); alice approves the proposal; the poll with the per-call auth token runs it', async () => {
    const from = test.exchanges.length;
    const asked = test.interactions.length;
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
    const resourceToken = claimsOf((requirement as { 'resource-token': string })['resource-token']);
    const { key } = await test.credentials();
    const person = claimsOf((await test.token('person', stack.rs.issuer))!);
    // R3 §Resource Token Extensions: the resource token references the per-call proposal (both claims).
    expect(resourceToken).toMatchObject({
      iss: stack.rs.issuer,
      aud: stack.ps.issuer,
      sub: person.sub,
      presented_jti: person.jti,
      agent_jkt: key.thumbprint,
      r3_uri: expect.stringMatching(new RegExp(`^${stack.rs.issuer}/`)),
      r3_s256: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(new URL(resourceToken.r3_uri as string).pathname).toBe(`/r3/${resourceToken.r3_s256 as string}`);
    pendingUrl = new URL(held.headers.get('location')!, stack.rs.issuer).href;
    expect(new URL(pendingUrl).pathname).toMatch(/^\/pending\/[A-Za-z0-9_-]+$/);

    // Meanwhile the agent asked its PS, which put the proposal to alice (no earlier consent covers a
    // per-call proposal): `POST /token` → 202, then the PS's pending URL → 200 once she approved.
    const toPs = exchanges
      .filter((e) => e.url.startsWith(stack.ps.issuer))
      .map((e) => [e.method, new URL(e.url).pathname, e.status]);
    expect(toPs[0]).toEqual(['POST', '/token', 202]);
    expect(toPs.at(-1)).toEqual(['GET', expect.stringMatching(/^\/pending\//), 200]);
    expect(test.interactions.slice(asked).map((i) => [i.server, i.decision])).toEqual([
      [stack.ps.issuer, 'Approve'],
    ]);

    // The poll that ran the call presented the per-call auth token: it echoes the proposal and grants
    // the one operation (R3 §Per-Call Proposals step 2), not a scope.
    const ran = exchanges.at(-1)!;
    expect([ran.method, ran.url, ran.status]).toEqual(['GET', pendingUrl, 200]);
    deliveredWith = jwtOf(ran.requestHeaders['signature-key'])!;
    const authToken = claimsOf(deliveredWith);
    expect(authToken).toMatchObject({
      iss: stack.ps.issuer,
      aud: stack.rs.issuer,
      r3_uri: resourceToken.r3_uri,
      r3_s256: resourceToken.r3_s256,
      r3_granted: DELETE_NOTE,
    });
    expect(authToken.r3_per_call).toBeUndefined();
    // The held call ran exactly once: only the last poll was answered 200 by the resource.
    expect(exchanges.filter((e) => e.url === pendingUrl && e.status === 200)).toHaveLength(1);
    // …and the resource recorded the proposal consumed by that token (R3 §Per-Call Proposals, Single use).
    const executions = await stack.rs.db.exec<{ auth_jti: string }>(
      'SELECT auth_jti FROM r3_per_call_execution WHERE r3_s256 = $1',
      [resourceToken.r3_s256],
    );
    expect(executions).toEqual([{ auth_jti: authToken.jti }]);

    // The note is gone (reading takes another auth token).
    const listFrom = test.exchanges.length;
    const list = await test.agent.fetch(notes());
    // The per-call auth token authorizes that one deletion only: listing with it is a step-up.
    const listed = test.exchanges.slice(listFrom).filter((e) => e.url === notes());
    expect(listed.map((e) => e.status)).toEqual([401, 200]);
    expect(jwtOf(listed[0]!.requestHeaders['signature-key'])).toBe(deliveredWith);
    expect(jwtOf(listed[1]!.requestHeaders['signature-key'])).not.toBe(deliveredWith);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ notebook: 'personal', notes: [] });
  });

  it('the same per-call auth token polling again gets the stored result, not a second execution', async () => {
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
    expect((await bare.json()) as unknown).toMatchObject({ error: 'gone' });
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
