import {
  DEV,
  Denied,
  decodeJwtUnverified,
  InvalidRequest,
  InvalidResourceToken,
  isInteractionCode,
  jwkThumbprint,
  parseAAuthRequirement,
} from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentExchange, createTestAgent, type TestAgent } from '../../e2e/test/support/agents.js';
import { type Stack, startStack } from '../../e2e/test/support/stack.js';
import { type Mockin, startMockin } from './support/mockin.js';

/**
 * Our agent SDK with `@hellocoop/mockin` 2.0.0 as its Person Server (interop-demo-profile.md surfaces
 * 2, 3 and 4), over real HTTP: the agent is enrolled at our Agent Provider with `ps` = mockin, so its
 * agent tokens name mockin; our demo resource (trusting any PS it verifies) sends its resource tokens
 * to mockin; mockin discovers our AP's and our resource's keys over HTTP, we discover mockin's.
 * Each test asserts the exchange on the wire as the SDK sent and received it.
 */

let clock: FakeClock;
let stack: Stack;
let mockin: Mockin;
let test: TestAgent;
/** Consent URLs the person was sent to by mockin (driven with a plain GET, as mockin's tests do). */
const consents: string[] = [];

const rsUrl = (path: string) => new URL(path, stack.rs.issuer).href;
const claims = (jwt: string) => decodeJwtUnverified(jwt).payload as Record<string, unknown>;
const header = (jwt: string) => decodeJwtUnverified(jwt).header as Record<string, unknown>;
const toMockin = (from: number) => test.exchanges.slice(from).filter((e) => e.url.startsWith(mockin.issuer));
const body = (e: AgentExchange | undefined) => JSON.parse(e?.body ?? 'null') as Record<string, unknown>;

beforeAll(async () => {
  // Mockin stamps tokens with the real time; our servers and SDK share a fake clock started now.
  clock = createFakeClock(Date.now());
  [stack, mockin] = await Promise.all([startStack(clock), startMockin()]);
  test = createTestAgent({
    clock,
    account: stack.alice,
    // Mockin's consent page is a bare GET (`/aauth/consent?code=…`), not our PS's pages.
    onIgnore: async (prompt) => {
      consents.push(prompt.url);
      const res = await fetch(`${prompt.url}?code=${encodeURIComponent(prompt.code)}`);
      expect(res.status).toBe(200);
    },
  });
  await test.agent.enroll(stack.ps.issuer, { name: 'Interop agent', platform: 'interop', ps: mockin.issuer });
}, 120_000);

afterEach(async () => {
  await mockin.configure({
    person_requirement: null,
    requirement: null,
    auto_approve: true,
    error: null,
    error_endpoint: null,
  });
});

afterAll(async () => {
  await Promise.all([stack?.close(), mockin?.close()]);
});

describe('@hellocoop/mockin 2.0.0 as the Person Server of our SDK', () => {
  it('discovery: mockin publishes the PS metadata the SDK needs (§Person Server Metadata)', async () => {
    const metadata = (await (await fetch(`${mockin.issuer}/.well-known/aauth-person.json`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      issuer: mockin.issuer,
      jwks_uri: `${mockin.issuer}/aauth/jwks.json`,
      person_token_endpoint: `${mockin.issuer}/aauth/token/person`,
      auth_token_endpoint: `${mockin.issuer}/aauth/token/auth`,
      interaction_endpoint: `${mockin.issuer}/aauth/interaction`,
    });
    // No mission_endpoint: missions (surface 1) cannot run against mockin.
    expect(metadata.mission_endpoint).toBeUndefined();
    const identity = await test.agent.whoami();
    expect(identity.ps).toBe(mockin.issuer);
  });

  it('surface 2 — person token from mockin, accepted by our resource (§Person Token Endpoint)', async () => {
    const from = test.exchanges.length;
    const res = await test.agent.fetch(rsUrl('/api/me'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ iss: mockin.issuer, via: 'person-token' });
    const wire = test.exchanges.slice(from);
    // resource 401 person-token → mockin metadata (discovery) → POST person_token_endpoint 200 → resource 200
    expect(wire[0]).toMatchObject({ method: 'GET', url: rsUrl('/api/me'), status: 401 });
    expect(parseAAuthRequirement(wire[0]!.headers.get('aauth-requirement')!, DEV)?.requirement).toBe(
      'person-token',
    );
    const request = toMockin(from).find((e) => e.url === `${mockin.issuer}/aauth/token/person`);
    expect(request).toMatchObject({ method: 'POST', status: 200 });
    // Signed with the agent token (sig=jwt), body covered by content-digest, as mockin requires.
    expect(request!.requestHeaders['signature-key']).toMatch(/^sig=jwt;jwt="/);
    expect(request!.requestHeaders['signature-input']).toContain('"content-digest"');
    const issued = body(request);
    expect(issued).toMatchObject({ person_token: expect.any(String), expires_in: expect.any(Number) });
    const token = String(issued.person_token);
    expect(header(token)).toMatchObject({ typ: 'aa-person+jwt', alg: 'Ed25519' });
    const { key } = await test.credentials();
    expect(claims(token)).toMatchObject({ iss: mockin.issuer, aud: stack.rs.issuer });
    expect(jwkThumbprint((claims(token).cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk)).toBe(
      key.thumbprint,
    );
    expect(wire.at(-1)).toMatchObject({ method: 'GET', url: rsUrl('/api/me'), status: 200 });
    expect(wire.at(-1)!.requestHeaders['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
  });

  it('surfaces 3 and 4 — DEVIATION: mockin rejects our resource token for lacking `person_token_jti` (renamed `presented_jti`)', async () => {
    const from = test.exchanges.length;
    const outcome = test.agent.fetch(rsUrl('/api/notes'));
    await expect(outcome).rejects.toBeInstanceOf(InvalidResourceToken);
    await expect(outcome).rejects.toMatchObject({ message: 'resource_token missing person_token_jti' });
    const wire = test.exchanges.slice(from);
    // resource: 401 requirement=auth-token with a resource token whose aud is mockin
    const challenge = wire.find((e) => e.url === rsUrl('/api/notes') && e.status === 401);
    const requirement = parseAAuthRequirement(challenge!.headers.get('aauth-requirement')!, DEV);
    expect(requirement?.requirement).toBe('auth-token');
    const resourceToken = requirement?.requirement === 'auth-token' ? requirement['resource-token'] : '';
    expect(header(resourceToken)).toMatchObject({ typ: 'aa-resource+jwt' });
    expect(claims(resourceToken)).toMatchObject({
      iss: stack.rs.issuer,
      aud: mockin.issuer,
      scope: 'notes.read',
      presented_jti: expect.any(String),
    });
    expect(claims(resourceToken).person_token_jti).toBeUndefined();
    // mockin: POST auth_token_endpoint → 400 application/problem+json invalid_resource_token
    const exchange = toMockin(from).find((e) => e.url === `${mockin.issuer}/aauth/token/auth`);
    expect(exchange).toMatchObject({ method: 'POST', status: 400 });
    expect(exchange!.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(body(exchange)).toMatchObject({
      error: 'invalid_resource_token',
      detail: 'resource_token missing person_token_jti',
    });
    // Surfaced as a typed error, not retried: no second exchange at mockin, no auth token cached.
    expect(toMockin(from).filter((e) => e.url === `${mockin.issuer}/aauth/token/auth`)).toHaveLength(1);
    expect((await test.agent.tokens()).filter((t) => t.kind === 'auth')).toEqual([]);
  });

  it('deferred person token, requirement=approval: 202 + Location, the pending URL polled with the agent token to 200 (§Deferred Responses)', async () => {
    await mockin.configure({ person_requirement: 'approval' });
    await test.store.write('person-tokens', {});
    const from = test.exchanges.length;
    const res = await test.agent.fetch(rsUrl('/api/me'));
    expect(res.status).toBe(200);
    const wire = toMockin(from);
    const deferred = wire.find((e) => e.url === `${mockin.issuer}/aauth/token/person`);
    expect(deferred).toMatchObject({ method: 'POST', status: 202 });
    const location = deferred!.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${mockin.issuer}/aauth/pending/[A-Za-z0-9_-]+$`));
    expect(deferred!.headers.get('retry-after')).toBe('0');
    expect(parseAAuthRequirement(deferred!.headers.get('aauth-requirement')!, DEV)).toMatchObject({
      requirement: 'approval',
    });
    const polls = wire.filter((e) => e.url === location);
    expect(polls).toHaveLength(1);
    expect(polls[0]).toMatchObject({ method: 'GET', status: 200 });
    expect(polls[0]!.requestHeaders['signature-key']).toMatch(/^sig=jwt;jwt="/);
    const token = String(body(polls[0]).person_token);
    expect(claims(token)).toMatchObject({ iss: mockin.issuer, aud: stack.rs.issuer });
    expect(test.exchanges.at(-1)!.requestHeaders['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
  });

  it('deferred person token, requirement=interaction: our SDK accepts the code only if it is Crockford base32 (§Interaction Code Format)', async () => {
    await mockin.configure({ person_requirement: 'interaction', auto_approve: false });
    await test.store.write('person-tokens', {});
    test.decide = 'Ignore';
    const from = test.exchanges.length;
    let outcome: Response | Error;
    try {
      outcome = await test.agent.fetch(rsUrl('/api/me'));
    } catch (error) {
      outcome = error as Error;
    } finally {
      test.decide = 'Approve';
    }
    const deferred = toMockin(from).find((e) => e.url === `${mockin.issuer}/aauth/token/person`);
    expect(deferred).toMatchObject({ method: 'POST', status: 202 });
    const raw = deferred!.headers.get('aauth-requirement')!;
    const code = /code="([^"]*)"/.exec(raw)?.[1] ?? '';
    expect(raw).toBe(`requirement=interaction; url="${mockin.issuer}/aauth/consent"; code="${code}"`);
    // Mockin draws 8 symbols from [A-Za-z0-9]; the spec's alphabet is Crockford base32, uppercase emitted.
    expect(code).toMatch(/^[A-Za-z0-9]{8}$/);
    if (isInteractionCode(code)) {
      // This run's code happened to be valid: the person consents at mockin, the poll gets the token.
      expect(outcome).toBeInstanceOf(Response);
      expect((outcome as Response).status).toBe(200);
      expect(consents).toContain(`${mockin.issuer}/aauth/consent`);
    } else {
      // A code outside the alphabet is refused before anyone is sent to mockin's URL.
      expect(outcome).toBeInstanceOf(InvalidRequest);
      expect((outcome as Error).message).toMatch(/interaction code/);
    }
  });

  it('surface 5 — sub-agent: the parent asks mockin with `subagent_token`; the person token binds the sub-agent key (§Parent-Mediated Authorization)', async () => {
    const identity = await test.agent.createSubAgent('helper');
    const from = test.exchanges.length;
    const res = await test.agent.subAgent('helper').fetch(rsUrl('/api/me'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ iss: mockin.issuer, via: 'person-token' });
    const request = toMockin(from).find((e) => e.url === `${mockin.issuer}/aauth/token/person`);
    expect(request).toMatchObject({ method: 'POST', status: 200 });
    // The parent signs (its own agent token in Signature-Key); the issued token binds the sub-agent.
    const { agentToken } = await test.credentials();
    expect(request!.requestHeaders['signature-key']).toBe(`sig=jwt;jwt="${agentToken}"`);
    const token = String(body(request).person_token);
    expect(jwkThumbprint((claims(token).cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk)).toBe(
      identity.key_thumbprint,
    );
    expect(test.exchanges.at(-1)!.requestHeaders['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
  });

  it('a terminal error from mockin (`denied` injected at the person token endpoint) is a typed error, not retried', async () => {
    await mockin.configure({ error: 'denied', error_endpoint: 'person' });
    await test.store.write('person-tokens', {});
    const from = test.exchanges.length;
    await expect(test.agent.fetch(rsUrl('/api/me'))).rejects.toBeInstanceOf(Denied);
    const requests = toMockin(from).filter((e) => e.url === `${mockin.issuer}/aauth/token/person`);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ status: 403 });
    expect(body(requests[0])).toMatchObject({ error: 'denied' });
  });
});
