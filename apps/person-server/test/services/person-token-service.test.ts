import { createLocalKeyResolver, createTokenVerifier, decodeJwtUnverified, STRICT } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { createHarness, OTHER_RESOURCE, PS, RESOURCE } from '../support/service-harness.js';

const MISSION = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

async function expectRejection(promise: Promise<unknown>, status: number, error: string) {
  await expect(promise).rejects.toMatchObject({ status, error });
}

describe('person token issuance (§Person Token Endpoint, §Person Token Structure)', () => {
  it('issues an aa-person+jwt with the spec claims and no scope or account', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    await h.stores.resourceConsents.grant({ personId: h.person.id, agent: agent.claims, resource: RESOURCE });
    const outcome = await h.personTokens.requestPersonToken(agent.signer, { resource: RESOURCE });
    expect(outcome.kind).toBe('issued');
    if (outcome.kind !== 'issued') return;
    const { header, payload } = decodeJwtUnverified(outcome.personToken);
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-person+jwt', kid: h.ps.signingKey.kid });
    const now = Math.floor(h.clock.now() / 1000);
    expect(payload).toEqual({
      iss: PS,
      dwk: 'aauth-person.json',
      aud: RESOURCE,
      sub: expect.any(String),
      cnf: { jwk: agent.claims.cnf.jwk },
      tenant: 'acme',
      jti: expect.any(String),
      iat: now,
      exp: now + 3600,
    });
    expect(payload).not.toHaveProperty('scope');
    expect(payload).not.toHaveProperty('account');
    expect(outcome.expiresIn).toBe(3600);
    // A resource verifying it with this PS's published key accepts it (§Person Token Verification).
    const verifier = createTokenVerifier({
      clock: h.clock,
      keys: createLocalKeyResolver([h.ps]),
      identifierPolicy: STRICT,
    });
    await expect(
      verifier.verify(outcome.personToken, { kinds: ['person'], audience: RESOURCE }),
    ).resolves.toMatchObject({ claims: payload });
  });

  it('omits tenant when the person has none', async () => {
    const h = createHarness();
    const loner = h.addPerson({ tenant: null, username: 'bob' });
    const agent = h.makeAgent({ personId: loner.id });
    const claims = await h.obtainPersonToken(agent);
    expect(claims).not.toHaveProperty('tenant');
  });

  it('uses a directed sub: stable over time and across agents, different per resource and per person (§Directed Identifiers)', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    const first = await h.obtainPersonToken(agent);
    h.clock.advance(2 * 3600_000);
    const again = await h.obtainPersonToken(h.makeAgent());
    const other = await h.obtainPersonToken(agent, { resource: OTHER_RESOURCE });
    const someoneElse = await h.obtainPersonToken(
      h.makeAgent({ personId: h.addPerson({ username: 'bob' }).id }),
    );
    expect(again.sub).toBe(first.sub);
    expect(other.sub).not.toBe(first.sub);
    expect(someoneElse.sub).not.toBe(first.sub);
    expect(first.sub).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(first.jti).not.toBe(again.jti);
  });

  it('retains a record of the token past its exp (§Person Token Endpoint retention obligation)', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    const claims = await h.obtainPersonToken(agent);
    h.clock.advance(3 * 3600_000);
    expect(await h.stores.personTokens.findByJti(claims.jti)).toEqual({
      jti: claims.jti,
      ps: PS,
      sub: claims.sub,
      missionS256: null,
      tenant: 'acme',
      exp: new Date(claims.exp * 1000),
      resource: RESOURCE,
      personId: h.person.id,
      agentIss: agent.claims.iss,
      agentSub: agent.claims.sub,
      subagentSub: null,
      cnfJkt: agent.key.thumbprint,
      issuedAt: new Date(claims.iat * 1000),
    });
  });

  it('caps exp by the agent token exp (§Person Token Structure)', async () => {
    const h = createHarness();
    const agent = h.makeAgent({ lifetimeSeconds: 600 });
    const claims = await h.obtainPersonToken(agent);
    expect(claims.exp).toBe(agent.claims.exp);
    expect(claims.exp - claims.iat).toBe(600);
  });

  it('carries mission_s256 and caps exp by the mission expires_at (§Person Token Structure)', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    h.stores.missions.add({
      s256: MISSION,
      agent: agent.claims.sub,
      personId: h.person.id,
      status: 'active',
      expiresAt: new Date(h.clock.now() + 120_000),
    });
    const claims = await h.obtainPersonToken(agent, { resource: RESOURCE, mission_s256: MISSION });
    expect(claims.mission_s256).toBe(MISSION);
    expect(claims.exp - claims.iat).toBe(120);
    expect((await h.stores.personTokens.findByJti(claims.jti))?.missionS256).toBe(MISSION);
  });

  it('returns the same token lifetime as expires_in', async () => {
    const h = createHarness();
    const agent = h.makeAgent({ lifetimeSeconds: 90 });
    await h.stores.resourceConsents.grant({ personId: h.person.id, agent: agent.claims, resource: RESOURCE });
    const outcome = await h.personTokens.requestPersonToken(agent.signer, { resource: RESOURCE });
    expect(outcome).toMatchObject({ kind: 'issued', expiresIn: 90 });
  });
});

describe('person token request validation (§Person Token Endpoint, §Token Endpoint Error Codes)', () => {
  it.each([
    ['missing', {}],
    ['not a string', { resource: 42 }],
    ['http', { resource: 'http://resource.example' }],
    ['trailing slash', { resource: 'https://resource.example/' }],
    ['uppercase', { resource: 'https://Resource.example' }],
    ['a path', { resource: 'https://resource.example/api' }],
    ['a port', { resource: 'https://resource.example:8443' }],
  ])('rejects a resource that is %s with 400 invalid_request', async (_name, body) => {
    const h = createHarness();
    await expectRejection(
      h.personTokens.requestPersonToken(h.makeAgent().signer, body),
      400,
      'invalid_request',
    );
  });

  it('rejects a body that is not an object with 400 invalid_request', async () => {
    const h = createHarness();
    await expectRejection(
      h.personTokens.requestPersonToken(h.makeAgent().signer, ['x']),
      400,
      'invalid_request',
    );
  });

  it('rejects a malformed mission_s256 with 400 invalid_request', async () => {
    const h = createHarness();
    const body = { resource: RESOURCE, mission_s256: 'not-a-digest' };
    await expectRejection(
      h.personTokens.requestPersonToken(h.makeAgent().signer, body),
      400,
      'invalid_request',
    );
  });

  it('rejects an unknown mission with 404 mission_not_found (§Person Token Endpoint: "MUST verify the mission exists")', async () => {
    const h = createHarness();
    const body = { resource: RESOURCE, mission_s256: MISSION };
    await expectRejection(
      h.personTokens.requestPersonToken(h.makeAgent().signer, body),
      404,
      'mission_not_found',
    );
  });

  it("rejects another agent's mission exactly like an unknown one (§Mission Endpoint Errors)", async () => {
    const h = createHarness();
    const owner = h.makeAgent();
    h.stores.missions.add({
      s256: MISSION,
      agent: owner.claims.sub,
      personId: h.person.id,
      status: 'active',
    });
    const body = { resource: RESOURCE, mission_s256: MISSION };
    await expectRejection(
      h.personTokens.requestPersonToken(h.makeAgent().signer, body),
      404,
      'mission_not_found',
    );
  });

  it('rejects a terminated or expired mission with 403 mission_terminated (§Mission Status Errors)', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    const body = { resource: RESOURCE, mission_s256: MISSION };
    h.stores.missions.add({
      s256: MISSION,
      agent: agent.claims.sub,
      personId: h.person.id,
      status: 'terminated',
      terminationReason: 'revoked',
    });
    await expect(h.personTokens.requestPersonToken(agent.signer, body)).rejects.toMatchObject({
      status: 403,
      error: 'mission_terminated',
      extra: { mission_status: 'terminated', termination_reason: 'revoked' },
    });
    h.stores.missions.add({
      s256: MISSION,
      agent: agent.claims.sub,
      personId: h.person.id,
      status: 'active',
      expiresAt: new Date(h.clock.now()),
    });
    await expect(h.personTokens.requestPersonToken(agent.signer, body)).rejects.toMatchObject({
      status: 403,
      error: 'mission_terminated',
      extra: { termination_reason: 'expired' },
    });
  });

  it('rejects a request signed by a sub-agent with 400 invalid_agent_token (§Single-Level Depth)', async () => {
    const h = createHarness();
    const sub = h.makeAgent({ parent: h.makeAgent() });
    await expectRejection(
      h.personTokens.requestPersonToken(sub.signer, { resource: RESOURCE }),
      400,
      'invalid_agent_token',
    );
  });
});

describe('consent and binding (§Person Token Exposure, §Agent-Person Binding)', () => {
  it('needs consent the first time an agent acts at a resource, not the second', async () => {
    const h = createHarness();
    const agent = h.makeAgent();
    const first = await h.personTokens.requestPersonToken(agent.signer, {
      resource: RESOURCE,
      capabilities: ['interaction', 'teleport'],
    });
    expect(first).toMatchObject({
      kind: 'needs_consent',
      reason: 'new_resource',
      capabilities: ['interaction'],
      plan: { resource: RESOURCE, personId: h.person.id, cnfJkt: agent.key.thumbprint },
    });
    if (first.kind !== 'needs_consent') return;
    // The plan survives a JSON round trip (kept with the pending request).
    const plan = JSON.parse(JSON.stringify(first.plan));
    const issued = await h.personTokens.completePersonToken(plan, { personId: h.person.id });
    expect(issued.claims.aud).toBe(RESOURCE);
    const second = await h.personTokens.requestPersonToken(agent.signer, { resource: RESOURCE });
    expect(second.kind).toBe('issued');
    const elsewhere = await h.personTokens.requestPersonToken(agent.signer, { resource: OTHER_RESOURCE });
    expect(elsewhere).toMatchObject({ kind: 'needs_consent', capabilities: [] });
  });

  it('asks for a binding when the agent has no person yet, and issues for the approving person', async () => {
    const h = createHarness();
    const agent = h.makeAgent({ bound: false });
    const outcome = await h.personTokens.requestPersonToken(agent.signer, { resource: RESOURCE });
    expect(outcome).toMatchObject({ kind: 'needs_consent', reason: 'agent_binding' });
    if (outcome.kind !== 'needs_consent') return;
    expect(outcome.plan).not.toHaveProperty('personId');
    const issued = await h.personTokens.completePersonToken(outcome.plan, { personId: h.person.id });
    expect((await h.stores.personTokens.findByJti(issued.claims.jti))?.personId).toBe(h.person.id);
  });

  it('refuses to complete for a person other than the bound one (§Agent-Person Binding)', async () => {
    const h = createHarness();
    const outcome = await h.personTokens.requestPersonToken(h.makeAgent().signer, { resource: RESOURCE });
    if (outcome.kind !== 'needs_consent') throw new Error('expected consent');
    await expectRejection(
      h.personTokens.completePersonToken(outcome.plan, { personId: h.addPerson({ username: 'mallory' }).id }),
      403,
      'forbidden',
    );
  });

  it('refuses to complete once the agent token has expired (§Person Token Structure)', async () => {
    const h = createHarness();
    const agent = h.makeAgent({ lifetimeSeconds: 60 });
    const outcome = await h.personTokens.requestPersonToken(agent.signer, { resource: RESOURCE });
    if (outcome.kind !== 'needs_consent') throw new Error('expected consent');
    h.clock.advance(61_000);
    await expectRejection(
      h.personTokens.completePersonToken(outcome.plan, { personId: h.person.id }),
      400,
      'expired_agent_token',
    );
  });
});

describe('rate limit on new resources (§Person Token Endpoint: "SHOULD rate-limit")', () => {
  it('refuses the (N+1)th new resource within an hour with 429 slow_down and Retry-After', async () => {
    const h = createHarness({ maxNewResourcesPerHour: 1 });
    const agent = h.makeAgent();
    await h.obtainPersonToken(agent);
    const refused = h.obtainPersonToken(agent, { resource: OTHER_RESOURCE });
    await expect(refused).rejects.toMatchObject({
      status: 429,
      error: 'slow_down',
      headers: { 'retry-after': '300' },
    });
    // A resource it already holds a token for is not new.
    await expect(h.obtainPersonToken(agent)).resolves.toMatchObject({ aud: RESOURCE });
    h.clock.advance(3601_000);
    await expect(h.obtainPersonToken(agent, { resource: OTHER_RESOURCE })).resolves.toMatchObject({
      aud: OTHER_RESOURCE,
    });
  });
});

describe('sub-agents (§Parent-Mediated Authorization)', () => {
  it('issues for the sub-agent key when the parent presents subagent_token', async () => {
    const h = createHarness();
    const parent = h.makeAgent();
    const child = h.makeAgent({ parent });
    const claims = await h.obtainPersonToken(parent, { resource: RESOURCE, subagent_token: child.jwt });
    expect(claims.cnf).toEqual({ jwk: child.claims.cnf.jwk });
    const record = await h.stores.personTokens.findByJti(claims.jti);
    expect(record).toMatchObject({
      agentSub: parent.claims.sub,
      subagentSub: child.claims.sub,
      cnfJkt: child.key.thumbprint,
    });
  });

  it('caps exp by the sub-agent token exp too', async () => {
    const h = createHarness();
    const parent = h.makeAgent();
    const child = h.makeAgent({ parent, lifetimeSeconds: 300 });
    const claims = await h.obtainPersonToken(parent, { resource: RESOURCE, subagent_token: child.jwt });
    expect(claims.exp).toBe(child.claims.exp);
  });

  it('rejects a subagent_token whose parent_agent is another agent with 400 invalid_agent_token', async () => {
    const h = createHarness();
    const child = h.makeAgent({ parent: h.makeAgent() });
    await expectRejection(
      h.obtainPersonToken(h.makeAgent(), { resource: RESOURCE, subagent_token: child.jwt }),
      400,
      'invalid_agent_token',
    );
  });

  it('rejects a subagent_token that is not a sub-agent token with 400 invalid_agent_token', async () => {
    const h = createHarness();
    await expectRejection(
      h.obtainPersonToken(h.makeAgent(), { resource: RESOURCE, subagent_token: h.makeAgent().jwt }),
      400,
      'invalid_agent_token',
    );
  });

  it('rejects an expired subagent_token with 400 expired_agent_token (§Agent Token Verification step 3)', async () => {
    const h = createHarness();
    const parent = h.makeAgent();
    const child = h.makeAgent({ parent, lifetimeSeconds: 60 });
    h.clock.advance(60_000);
    await expectRejection(
      h.obtainPersonToken(parent, { resource: RESOURCE, subagent_token: child.jwt }),
      400,
      'expired_agent_token',
    );
  });

  it('rejects a subagent_token that is not an agent token with 400 invalid_agent_token', async () => {
    const h = createHarness();
    const parent = h.makeAgent();
    await expectRejection(
      h.obtainPersonToken(parent, { resource: RESOURCE, subagent_token: 'e30.e30.sig' }),
      400,
      'invalid_agent_token',
    );
  });
});
