import { decodeJwtUnverified, type PersonTokenClaims } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import type { AuthTokenOutcome, IssuedAuthToken } from '../../src/services/auth-token-service.js';
import {
  createHarness,
  type Harness,
  makeKeyPair,
  PS,
  RESOURCE,
  type TestAgent,
} from '../support/service-harness.js';

const MISSION = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

async function expectRejection(promise: Promise<unknown>, status: number, error: string) {
  await expect(promise).rejects.toMatchObject({ status, error });
}

interface Setup {
  h: Harness;
  agent: TestAgent;
  pt: PersonTokenClaims;
  request(body: Record<string, unknown>, signer?: TestAgent): Promise<AuthTokenOutcome>;
  /** Requests, consents to whatever is asked, and returns the issued token. */
  obtain(body: Record<string, unknown>): Promise<IssuedAuthToken>;
}

async function setup(
  options: { lifetimeSeconds?: number; mission?: { expiresAt?: Date } } = {},
): Promise<Setup> {
  const h = createHarness();
  const agent = h.makeAgent(
    options.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: options.lifetimeSeconds },
  );
  let body: Record<string, unknown> = { resource: RESOURCE };
  if (options.mission) {
    h.stores.missions.add({
      s256: MISSION,
      agent: agent.claims.sub,
      personId: h.person.id,
      status: 'active',
      capabilities: ['interaction', 'payment'],
      ...options.mission,
    });
    body = { ...body, mission_s256: MISSION };
  }
  const pt = await h.obtainPersonToken(agent, body);
  const request = (b: Record<string, unknown>, signer: TestAgent = agent) =>
    h.authTokens.requestAuthToken(signer.signer, b);
  return {
    h,
    agent,
    pt,
    request,
    async obtain(b) {
      const outcome = await request(b);
      if (outcome.kind === 'issued') return outcome;
      if (outcome.kind !== 'needs_consent') throw new Error(`unexpected outcome ${outcome.kind}`);
      return h.authTokens.completeAuthToken(outcome.plan, { personId: h.person.id });
    },
  };
}

describe('auth token issuance, three-party (§PS Response, §Auth Token Structure)', () => {
  it('asks for consent first, then issues an aa-auth+jwt with the spec claims', async () => {
    const { h, agent, pt, request } = await setup();
    const rt = h.makeResourceToken(pt, agent.key, { account: 'acct-7' });
    const outcome = await request({ resource_token: rt });
    expect(outcome).toMatchObject({ kind: 'needs_consent', reasons: ['scope'], capabilities: [] });
    if (outcome.kind !== 'needs_consent') return;
    const issued = await h.authTokens.completeAuthToken(JSON.parse(JSON.stringify(outcome.plan)), {
      personId: h.person.id,
    });
    const { header, payload } = decodeJwtUnverified(issued.authToken);
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-auth+jwt', kid: h.ps.signingKey.kid });
    const now = Math.floor(h.clock.now() / 1000);
    expect(payload).toEqual({
      iss: PS,
      dwk: 'aauth-person.json',
      aud: RESOURCE,
      ps: PS,
      sub: pt.sub,
      cnf: { jwk: agent.claims.cnf.jwk },
      scope: 'read write',
      account: 'acct-7',
      tenant: 'acme',
      jti: expect.any(String),
      iat: now,
      exp: now + 3600,
    });
    expect(issued.expiresIn).toBe(3600);
    expect(await h.stores.issuedAuthTokens.findByJti(payload.jti as string)).toMatchObject({
      iss: PS,
      aud: RESOURCE,
      sub: pt.sub,
      scope: 'read write',
      personId: h.person.id,
      agentSub: agent.claims.sub,
      cnfJkt: agent.key.thumbprint,
      exp: new Date((payload.exp as number) * 1000),
      revokedAt: null,
    });
  });

  it('remembers consent: the same scope or a subset issues without a prompt, a broader one asks', async () => {
    const { h, agent, pt, request, obtain } = await setup();
    await obtain({ resource_token: h.makeResourceToken(pt, agent.key, { scope: 'read write' }) });
    const same = await request({
      resource_token: h.makeResourceToken(pt, agent.key, { scope: 'write read' }),
    });
    expect(same.kind).toBe('issued');
    const subset = await request({ resource_token: h.makeResourceToken(pt, agent.key, { scope: 'read' }) });
    expect(subset).toMatchObject({ kind: 'issued', claims: { scope: 'read' } });
    const broader = await request({
      resource_token: h.makeResourceToken(pt, agent.key, { scope: 'read delete' }),
    });
    expect(broader).toMatchObject({ kind: 'needs_consent', reasons: ['scope'] });
  });

  it('keeps consent given under a mission to that mission (§Resource Token Structure)', async () => {
    const { h, agent, pt, request, obtain } = await setup({ mission: {} });
    await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    expect((await request({ resource_token: h.makeResourceToken(pt, agent.key) })).kind).toBe('issued');
    const withoutMission = await h.obtainPersonToken(agent);
    const outcome = await request({ resource_token: h.makeResourceToken(withoutMission, agent.key) });
    expect(outcome.kind).toBe('needs_consent');
  });

  it('never grants a scope broader than the resource token (§Scopes)', async () => {
    const { h, agent, pt, request } = await setup();
    const outcome = await request({ resource_token: h.makeResourceToken(pt, agent.key, { scope: 'read' }) });
    if (outcome.kind !== 'needs_consent') throw new Error('expected consent');
    await expect(
      h.authTokens.completeAuthToken(outcome.plan, { personId: h.person.id, grantedScope: 'read write' }),
    ).rejects.toThrow(TypeError);
    const narrowed = await h.authTokens.completeAuthToken(outcome.plan, {
      personId: h.person.id,
      grantedScope: '',
    });
    expect(narrowed.claims.scope).toBe('');
    const full = await h.authTokens.completeAuthToken(outcome.plan, { personId: h.person.id });
    expect(full.claims.scope).toBe('read');
  });

  it('adds identity claims only for the identity scopes granted (§Scopes)', async () => {
    const { h, agent, pt, obtain } = await setup();
    const withIdentity = await obtain({
      resource_token: h.makeResourceToken(pt, agent.key, { scope: 'openid profile email read' }),
    });
    expect(withIdentity.claims).toMatchObject({ name: 'Alice Example', email: 'alice@example.com' });
    const without = await obtain({
      resource_token: h.makeResourceToken(pt, agent.key, { scope: 'openid read' }),
    });
    expect(without.claims).not.toHaveProperty('name');
    expect(without.claims).not.toHaveProperty('email');
  });

  it('omits scope when the resource token has none (R3)', async () => {
    const { h, agent, pt, obtain } = await setup();
    const issued = await obtain({ resource_token: h.makeResourceToken(pt, agent.key, { scope: undefined }) });
    expect(issued.claims).not.toHaveProperty('scope');
  });

  it('caps exp by the agent token exp (§Auth Token Structure)', async () => {
    const { h, agent, pt, obtain } = await setup({ lifetimeSeconds: 900 });
    const issued = await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    expect(issued.claims.exp).toBe(agent.claims.exp);
  });

  it('copies mission_s256 and caps exp by the mission expires_at (§Auth Token Structure)', async () => {
    const h0 = Date.UTC(2026, 0, 1);
    const { h, agent, pt, obtain } = await setup({ mission: { expiresAt: new Date(h0 + 1800_000) } });
    const issued = await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    expect(issued.claims.mission_s256).toBe(MISSION);
    expect(issued.claims.exp).toBe(Math.floor((h0 + 1800_000) / 1000));
  });

  it('rejects a resource token whose mission has ended with 403 mission_terminated (§Resource Token Verification step 7)', async () => {
    const { h, agent, pt, request } = await setup({ mission: {} });
    h.stores.missions.add({
      s256: MISSION,
      agent: agent.claims.sub,
      personId: h.person.id,
      status: 'terminated',
    });
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, agent.key) }),
      403,
      'mission_terminated',
    );
  });

  it('uses the mission capabilities when the request declares none, the request ones otherwise', async () => {
    const { h, agent, pt, request } = await setup({ mission: {} });
    const rt = h.makeResourceToken(pt, agent.key);
    expect(await request({ resource_token: rt })).toMatchObject({ capabilities: ['interaction', 'payment'] });
    expect(await request({ resource_token: rt, capabilities: ['clarification'] })).toMatchObject({
      capabilities: ['clarification'],
    });
  });

  it('keeps the request context for the consent page', async () => {
    const { h, agent, pt, request } = await setup();
    const outcome = await request({
      resource_token: h.makeResourceToken(pt, agent.key),
      justification: 'Find **meeting** times',
      login_hint: 'alice',
      tenant: 'acme',
      domain_hint: 'acme.example',
      platform: 'desktop',
      device: 'Chrome on macOS',
    });
    expect(outcome).toMatchObject({
      kind: 'needs_consent',
      plan: {
        context: {
          justification: 'Find **meeting** times',
          login_hint: 'alice',
          tenant: 'acme',
          domain_hint: 'acme.example',
          platform: 'desktop',
          device: 'Chrome on macOS',
          prompt: [],
        },
      },
    });
  });
});

describe('prompt (§Agent Token Request)', () => {
  it('prompt=consent asks even when consent is remembered', async () => {
    const { h, agent, pt, request, obtain } = await setup();
    await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    const outcome = await request({ resource_token: h.makeResourceToken(pt, agent.key), prompt: 'consent' });
    expect(outcome).toMatchObject({ kind: 'needs_consent', reasons: ['prompt'] });
  });

  it('prompt=none issues when nothing needs asking', async () => {
    const { h, agent, pt, request, obtain } = await setup();
    await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    const outcome = await request({ resource_token: h.makeResourceToken(pt, agent.key), prompt: 'none' });
    expect(outcome.kind).toBe('issued');
  });

  it('prompt=none when the person must be asked is 403 user_unreachable (§Token Endpoint Error Codes)', async () => {
    const { h, agent, pt, request } = await setup();
    await expectRejection(
      request({
        resource_token: h.makeResourceToken(pt, agent.key),
        prompt: 'none',
        capabilities: ['interaction'],
      }),
      403,
      'user_unreachable',
    );
  });
});

describe('resource token verification (§Resource Token Verification, §Token Endpoint Error Codes)', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['ps changed', { ps: 'https://other-ps.example' }, 'ps'],
    ['sub changed', { sub: 'someone-else' }, 'sub'],
    ['tenant changed', { tenant: 'globex' }, 'tenant'],
    ['tenant removed', { tenant: undefined }, 'tenant'],
    ['iss of another resource', { iss: 'https://other.example' }, 'iss'],
  ])(
    'rejects a resource token with %s: 400 invalid_resource_token and a security event (step 6)',
    async (_name, claims, mismatched) => {
      const { h, agent, pt, request } = await setup();
      const header = claims.iss
        ? { signer: h.otherResource.signingKey, kid: h.otherResource.signingKey.kid }
        : {};
      await expectRejection(
        request({ resource_token: h.makeResourceToken(pt, agent.key, claims, header) }),
        400,
        'invalid_resource_token',
      );
      expect(h.stores.securityEvents.events).toEqual([
        {
          event: 'resource_token.mismatch',
          detail: expect.objectContaining({ presented_jti: pt.jti, mismatched: [mismatched] }),
        },
      ]);
    },
  );

  it.each([
    ['mission_s256 changed', { mission_s256: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
    ['mission_s256 removed (mission stripping)', { mission_s256: undefined }],
  ])(
    'rejects a resource token with %s: 400 invalid_resource_token and a security event (step 6)',
    async (_name, claims) => {
      const { h, agent, pt, request } = await setup({ mission: {} });
      await expectRejection(
        request({ resource_token: h.makeResourceToken(pt, agent.key, claims) }),
        400,
        'invalid_resource_token',
      );
      expect(h.stores.securityEvents.events).toMatchObject([
        { event: 'resource_token.mismatch', detail: { mismatched: ['mission_s256'] } },
      ]);
    },
  );

  it('rejects a mission_s256 added to a person token that had none (step 6)', async () => {
    const { h, agent, pt, request } = await setup();
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, agent.key, { mission_s256: MISSION }) }),
      400,
      'invalid_resource_token',
    );
    expect(h.stores.securityEvents.events).toHaveLength(1);
  });

  it.each([['ps'], ['sub']])(
    'rejects a resource token without %s with 400 invalid_resource_token',
    async (claim) => {
      const { h, agent, pt, request } = await setup();
      await expectRejection(
        request({ resource_token: h.makeResourceToken(pt, agent.key, { [claim]: undefined }) }),
        400,
        'invalid_resource_token',
      );
    },
  );

  it('rejects agent_jkt of another key with 400 invalid_resource_token (step 5)', async () => {
    const { h, agent, pt, request } = await setup();
    expect(agent.key.thumbprint).not.toBe(makeKeyPair().thumbprint);
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, makeKeyPair()) }),
      400,
      'invalid_resource_token',
    );
  });

  it('rejects aud of another server with 400 invalid_resource_token (step 4; no federation configured)', async () => {
    const { h, agent, pt, request } = await setup();
    const promise = request({
      resource_token: h.makeResourceToken(pt, agent.key, { aud: 'https://ps2.example' }),
    });
    await expect(promise).rejects.toMatchObject({
      status: 400,
      error: 'invalid_resource_token',
      detail: expect.stringContaining('not for this person server'),
    });
  });

  it('rejects an expired resource token with 400 expired_resource_token (step 3)', async () => {
    const { h, agent, pt, request } = await setup();
    const rt = h.makeResourceToken(pt, agent.key);
    h.clock.advance(300_000);
    await expectRejection(request({ resource_token: rt }), 400, 'expired_resource_token');
  });

  it.each([['aa-auth+jwt'], ['aa-person+jwt'], ['JWT']])(
    'rejects typ %s with 400 invalid_resource_token (step 1)',
    async (typ) => {
      const { h, agent, pt, request } = await setup();
      await expectRejection(
        request({ resource_token: h.makeResourceToken(pt, agent.key, {}, { typ }) }),
        400,
        'invalid_resource_token',
      );
    },
  );

  it('rejects a resource token signed with a key its issuer does not publish (step 2)', async () => {
    const { h, agent, pt, request } = await setup();
    const forged = h.makeResourceToken(pt, agent.key, {}, { signer: makeKeyPair() });
    await expectRejection(request({ resource_token: forged }), 400, 'invalid_resource_token');
  });

  it('rejects a presented_jti the PS has no record of with 400 unknown_person_token (step 6)', async () => {
    const { h, agent, pt, request } = await setup();
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, agent.key, { presented_jti: 'not-ours' }) }),
      400,
      'unknown_person_token',
    );
  });

  it('rejects a resource token naming a revoked person token with 400 invalid_resource_token (§Token Revocation)', async () => {
    const { h, agent, pt, request } = await setup();
    const record = h.stores.personTokens.records.get(pt.jti)!;
    h.stores.personTokens.records.set(pt.jti, { ...record, revoked: true });
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, agent.key) }),
      400,
      'invalid_resource_token',
    );
  });

  it('accepts the older claim name person_token_jti for presented_jti', async () => {
    const { h, agent, pt, request } = await setup();
    const rt = h.makeResourceToken(pt, agent.key, { presented_jti: undefined, person_token_jti: pt.jti });
    expect(await request({ resource_token: rt })).toMatchObject({ kind: 'needs_consent' });
    const conflicting = h.makeResourceToken(pt, agent.key, { person_token_jti: 'another' });
    await expectRejection(request({ resource_token: conflicting }), 400, 'invalid_resource_token');
  });

  it('rejects a resource token naming a person token issued to another agent, with a security event', async () => {
    const { h, pt, request } = await setup();
    const thief = h.makeAgent();
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, thief.key) }, thief),
      400,
      'invalid_resource_token',
    );
    expect(h.stores.securityEvents.events).toMatchObject([{ event: 'resource_token.agent_mismatch' }]);
  });

  it('rejects an agent whose binding was revoked with 400 invalid_agent_token (§Agent-Person Binding)', async () => {
    const { h, agent, pt, request } = await setup();
    h.stores.bindings.revoke(agent.claims);
    await expectRejection(
      request({ resource_token: h.makeResourceToken(pt, agent.key) }),
      400,
      'invalid_agent_token',
    );
  });

  it('rejects a request without resource_token with 400 invalid_request', async () => {
    const { request } = await setup();
    await expectRejection(request({}), 400, 'invalid_request');
  });

  it('returns the resource interaction for the platform to run first (§Resource-Initiated Interaction)', async () => {
    const { h, agent, pt, request, obtain } = await setup();
    await obtain({ resource_token: h.makeResourceToken(pt, agent.key) });
    const interaction = { url: 'https://resource.example/interaction', code: 'ABCD-EFGH' };
    const outcome = await request({ resource_token: h.makeResourceToken(pt, agent.key, { interaction }) });
    expect(outcome).toMatchObject({
      kind: 'needs_consent',
      reasons: ['resource_interaction'],
      plan: { resourceInteraction: interaction },
    });
  });

  it.each([
    ['http', 'http://resource.example/interaction'],
    ['a query', 'https://resource.example/interaction?x=1'],
  ])('rejects an interaction url with %s with 400 invalid_resource_token', async (_name, url) => {
    const { h, agent, pt, request } = await setup();
    const rt = h.makeResourceToken(pt, agent.key, { interaction: { url, code: 'ABCD-EFGH' } });
    await expectRejection(request({ resource_token: rt }), 400, 'invalid_resource_token');
  });
});

describe('sub-agents at the auth token endpoint (§Parent-Mediated Authorization)', () => {
  async function subagentSetup() {
    const s = await setup();
    const child = s.h.makeAgent({ parent: s.agent });
    const pt = await s.h.obtainPersonToken(s.agent, { resource: RESOURCE, subagent_token: child.jwt });
    return { ...s, child, childPt: pt };
  }

  it('issues bound to the sub-agent key when agent_jkt is the sub-agent key', async () => {
    const { h, agent, child, childPt, obtain } = await subagentSetup();
    const issued = await obtain({
      resource_token: h.makeResourceToken(childPt, child.key),
      subagent_token: child.jwt,
    });
    expect(issued.claims.cnf).toEqual({ jwk: child.claims.cnf.jwk });
    expect(await h.stores.issuedAuthTokens.findByJti(issued.claims.jti)).toMatchObject({
      agentSub: agent.claims.sub,
      cnfJkt: child.key.thumbprint,
    });
  });

  it('rejects the sub-agent resource token without subagent_token (step 5) with 400 invalid_resource_token', async () => {
    const { h, child, childPt, request } = await subagentSetup();
    await expectRejection(
      request({ resource_token: h.makeResourceToken(childPt, child.key) }),
      400,
      'invalid_resource_token',
    );
  });

  it('rejects a subagent_token of another parent with 400 invalid_agent_token', async () => {
    const { h, child, childPt, request } = await subagentSetup();
    const stranger = h.makeAgent({ parent: h.makeAgent() });
    await expectRejection(
      request({ resource_token: h.makeResourceToken(childPt, child.key), subagent_token: stranger.jwt }),
      400,
      'invalid_agent_token',
    );
  });

  it('rejects a request signed by the sub-agent itself with 400 invalid_agent_token (§Single-Level Depth)', async () => {
    const { h, child, childPt, request } = await subagentSetup();
    await expectRejection(
      request({ resource_token: h.makeResourceToken(childPt, child.key) }, child),
      400,
      'invalid_agent_token',
    );
  });
});
