import { createHash, createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import {
  DEV,
  DWK,
  decodeJwtUnverified,
  jwkThumbprint,
  parseAAuthRequirement,
  TOKEN_TYP,
} from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentExchange, claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { visibleText } from './support/person.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * The five surfaces of the AAuth Interoperability Demo Profile (interop-demo-profile.md), each checked
 * for exactly what the profile says a peer must observe, over real HTTP between the PS, the resource
 * and the SDK agent. The surfaces build on one another in order: the approved mission (1) is the one
 * the person token (2) names, whose resource token (3) the auth token (4) is issued for; the
 * sub-agent (5) works under the same PS. Four-party issuance (surface 4 with an AS) is covered by
 * four-party.test.ts.
 */

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
let missionS256: string;
let personToken: string;
let resourceToken: string;

const rsUrl = (path: string) => new URL(path, stack.rs.issuer).href;

function json(exchange: AgentExchange | undefined): Record<string, unknown> {
  expect(exchange).toBeDefined();
  return JSON.parse(exchange!.body) as Record<string, unknown>;
}

/** A JWT's signature checked against the key of its header `kid` in `jwks` (Ed25519 or ES256). */
function verifyJwtSignature(jwt: string, jwks: { keys: (JsonWebKey & { kid?: string })[] }): boolean {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as {
    kid?: string;
    alg?: string;
  };
  const jwk = jwks.keys.find((k) => k.kid === kid);
  expect(jwk, `no key with kid ${kid}`).toBeDefined();
  const key = createPublicKey({ key: jwk!, format: 'jwk' });
  const data = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  if (alg === 'ES256') return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  return verify(null, data, key, sig);
}

/** `{iss}/.well-known/{dwk}`, `issuer` checked, then its JWKS (Surfaces 3 and 4). */
async function issuerKeys(iss: string, dwk: string): Promise<{ keys: (JsonWebKey & { kid?: string })[] }> {
  const metadata = (await (await fetch(`${iss}/.well-known/${dwk}`)).json()) as Record<string, unknown>;
  expect(metadata.issuer).toBe(iss);
  expect(metadata.jwks_uri).toEqual(expect.any(String));
  return (await (await fetch(String(metadata.jwks_uri))).json()) as {
    keys: (JsonWebKey & { kid?: string })[];
  };
}

/** A 401 `requirement=auth-token` (the answer to a presented person token). */
function isAuthTokenChallenge(exchange: AgentExchange): boolean {
  if (exchange.status !== 401) return false;
  const header = exchange.headers.get('aauth-requirement');
  return header !== null && parseAAuthRequirement(header, DEV)?.requirement === 'auth-token';
}

/** The `Signature-Key` and `Signature-Input` the agent sent on `exchange`. */
function signatureOf(exchange: AgentExchange): { signatureKey: string; input: string } {
  return {
    signatureKey: exchange.requestHeaders['signature-key'] ?? '',
    input: exchange.requestHeaders['signature-input'] ?? '',
  };
}

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  test = createTestAgent({ clock, account: stack.alice });
  await test.agent.enroll(stack.ps.issuer, { name: 'Interop agent', platform: 'e2e' });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('AAuth interop demo profile: the five surfaces', () => {
  it('Surface 1 — PS mission approval: `mission` decodes to JSON, `s256` is its SHA-256; person_tokens per resource', async () => {
    const from = test.exchanges.length;
    const mission = await test.agent.proposeMission({
      description: 'Keep **my shopping list** in my notes.',
      resources: [stack.rs.issuer],
    });
    // The approval response as the PS sent it (the last 200 from the PS in this exchange).
    const approval = json(
      test.exchanges
        .slice(from)
        .filter((e) => e.url.startsWith(stack.ps.issuer) && e.status === 200 && e.body.includes('"s256"'))
        .at(-1),
    );
    expect(approval).toMatchObject({
      s256: expect.any(String),
      mission: expect.any(String),
      capabilities: expect.any(Array),
    });
    const blob = Buffer.from(String(approval.mission), 'base64url');
    expect(String(approval.mission)).toMatch(/^[A-Za-z0-9_-]+$/);
    const decoded = JSON.parse(blob.toString('utf8')) as Record<string, unknown>;
    expect(decoded).toMatchObject({ approver: stack.ps.issuer, description: expect.any(String) });
    expect(createHash('sha256').update(blob).digest('base64url')).toBe(approval.s256);
    // `person_tokens` is present because the proposal named `resources`: one mission-scoped token each.
    const tokens = approval.person_tokens as Record<string, string>;
    expect(Object.keys(tokens)).toEqual([stack.rs.issuer]);
    expect(claimsOf(tokens[stack.rs.issuer]!)).toMatchObject({
      aud: stack.rs.issuer,
      mission_s256: approval.s256,
    });
    expect(mission.s256).toBe(approval.s256);
    missionS256 = mission.s256;
    test.agent.useMission(missionS256);
  });

  it('Surface 2 — person token: aud, directed sub, cnf = signing key, mission_s256; presented as sig=jwt', async () => {
    const from = test.exchanges.length;
    const res = await test.agent.fetch(rsUrl('/api/notes'));
    expect(res.status).toBe(200);
    const { key } = await test.credentials();

    const presented = test.exchanges
      .slice(from)
      .find((e) => e.url === rsUrl('/api/notes') && isAuthTokenChallenge(e));
    expect(presented).toBeDefined();
    const { signatureKey, input } = signatureOf(presented!);
    const match = /^sig=jwt;jwt="([^"]+)"$/.exec(signatureKey);
    expect(match).not.toBeNull();
    personToken = match![1]!;
    const { header, payload } = decodeJwtUnverified(personToken);
    expect(header.typ).toBe(TOKEN_TYP.person);
    expect(payload).toMatchObject({ iss: stack.ps.issuer, aud: stack.rs.issuer, mission_s256: missionS256 });
    expect(payload.sub).toEqual(expect.any(String));
    expect(payload.sub).not.toBe(stack.alice.username);
    expect(jwkThumbprint((payload.cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk)).toBe(
      key.thumbprint,
    );
    // The signature covers at least @method, @authority, @path and signature-key.
    for (const component of ['"@method"', '"@authority"', '"@path"', '"signature-key"']) {
      expect(input).toContain(component);
    }

    // The resource token copies ps, sub, mission_s256, and names the person token in presented_jti.
    const requirement = parseAAuthRequirement(presented!.headers.get('aauth-requirement') ?? '', DEV);
    expect(requirement).toMatchObject({ requirement: 'auth-token' });
    resourceToken = (requirement as { 'resource-token': string })['resource-token'];
    expect(claimsOf(resourceToken)).toMatchObject({
      ps: payload.iss,
      sub: payload.sub,
      mission_s256: missionS256,
      presented_jti: payload.jti,
      agent_jkt: key.thumbprint,
    });
  });

  it('Surface 3 — resource token: aa-resource+jwt, iss = resource, verifiable from {iss}/.well-known/aauth-resource.json', async () => {
    const { header, payload } = decodeJwtUnverified(resourceToken);
    expect(header.typ).toBe(TOKEN_TYP.resource);
    expect(payload.iss).toBe(stack.rs.issuer);
    const jwks = await issuerKeys(String(payload.iss), DWK.resource);
    expect(verifyJwtSignature(resourceToken, jwks)).toBe(true);
    // A single flipped bit of the payload no longer verifies.
    const [h, p, s] = resourceToken.split('.') as [string, string, string];
    const tampered = Buffer.from(p, 'base64url');
    tampered[0]! ^= 1;
    expect(verifyJwtSignature(`${h}.${tampered.toString('base64url')}.${s}`, jwks)).toBe(false);
  });

  it('Surface 4 — auth token: cnf = signing key, aud = resource, ps, directed sub, mission_s256; presented as sig=jwt', async () => {
    const authToken = (await test.token('auth', stack.rs.issuer))!;
    const { key } = await test.credentials();
    const { header, payload } = decodeJwtUnverified(authToken);
    expect(header.typ).toBe(TOKEN_TYP.auth);
    const person = claimsOf(personToken);
    expect(payload).toMatchObject({
      iss: stack.ps.issuer,
      dwk: DWK.person,
      aud: stack.rs.issuer,
      ps: stack.ps.issuer,
      sub: person.sub,
      mission_s256: missionS256,
    });
    expect(jwkThumbprint((payload.cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk)).toBe(
      key.thumbprint,
    );
    // No token the resource reads carries an agent identifier.
    for (const token of [personToken, resourceToken, authToken]) {
      expect(Object.keys(claimsOf(token))).not.toContain('agent');
      expect(Object.keys(claimsOf(token))).not.toContain('act');
    }
    // Verifiable from the issuer's JWKS at {iss}/.well-known/{dwk}.
    expect(verifyJwtSignature(authToken, await issuerKeys(String(payload.iss), String(payload.dwk)))).toBe(
      true,
    );
    // Presented via Signature-Key: sig=jwt, and the resource served it.
    const served = test.exchanges.filter((e) => e.url === rsUrl('/api/notes') && e.status === 200).at(-1)!;
    expect(signatureOf(served).signatureKey).toBe(`sig=jwt;jwt="${authToken}"`);
  });

  it('Surface 5 — sub-agent: person and auth tokens bound to the sub-agent key; the PS records the parent', async () => {
    test.agent.useMission(undefined);
    const identity = await test.agent.createSubAgent('reader');
    const parent = (await test.agent.whoami()).agent;
    expect(identity.parent_agent).toBe(parent);
    const from = test.exchanges.length;
    const res = await test.agent.subAgent('reader').fetch(rsUrl('/api/notes'));
    expect(res.status).toBe(200);
    const exchanges = test.exchanges.slice(from);

    // 1. The parent asked the PS for the person token with subagent_token.
    const personRequest = exchanges.find((e) => e.method === 'POST' && e.url === `${stack.ps.issuer}/person`);
    expect(personRequest).toBeDefined();
    // 2. The sub-agent presented it and got a resource token bound to its own key.
    const challenge = exchanges.find((e) => e.url === rsUrl('/api/notes') && isAuthTokenChallenge(e))!;
    const presentedPerson = /jwt="([^"]+)"/.exec(signatureOf(challenge).signatureKey)![1]!;
    expect(claimsOf(presentedPerson)).toMatchObject({ aud: stack.rs.issuer });
    const cnfOf = (jwt: string) =>
      jwkThumbprint((claimsOf(jwt).cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk);
    expect(cnfOf(presentedPerson)).toBe(identity.key_thumbprint);
    const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement') ?? '', DEV);
    const subResourceToken = (requirement as { 'resource-token': string })['resource-token'];
    expect(claimsOf(subResourceToken).agent_jkt).toBe(identity.key_thumbprint);
    // 4–6. The parent exchanged it with subagent_token; the auth token's cnf is the sub-agent's key.
    const authRequest = exchanges.find((e) => e.method === 'POST' && e.url === `${stack.ps.issuer}/token`);
    expect(authRequest).toBeDefined();
    // Answered at once or, after alice's consent, on a poll of its pending URL.
    const delivered = exchanges
      .filter((e) => e.url.startsWith(stack.ps.issuer) && e.status === 200 && e.body.includes('"auth_token"'))
      .at(-1);
    const authToken = String(json(delivered).auth_token);
    expect(cnfOf(authToken)).toBe(identity.key_thumbprint);
    expect(claimsOf(authToken)).toMatchObject({ aud: stack.rs.issuer, sub: claimsOf(presentedPerson).sub });
    // The parent signed both PS requests with its own agent token.
    const parentToken = (await test.credentials()).agentToken;
    for (const request of [personRequest!, authRequest!]) {
      expect(signatureOf(request).signatureKey).toBe(`sig=jwt;jwt="${parentToken}"`);
    }
    // The resource served the sub-agent's request signed with the sub-agent's key under that token.
    const served = exchanges.filter((e) => e.url === rsUrl('/api/notes') && e.status === 200).at(-1)!;
    expect(signatureOf(served).signatureKey).toBe(`sig=jwt;jwt="${authToken}"`);
    // The PS records the parent as the requesting agent: alice's dashboard lists the token under it.
    const dashboard = await test.browser.openSignedIn(`${stack.ps.issuer}/dashboard`, stack.alice);
    const issued = visibleText(dashboard.html);
    expect(issued).toContain(`Auth token ${parent} ${stack.rs.issuer}`);
    expect(issued).not.toContain(identity.agent);
    await test.browser.signOut(stack.ps.issuer);
  });
});
