import { randomUUID } from 'node:crypto';
import { DWK } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, startTestApp, type TestApp } from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('metadata and keys (§Person Server Metadata, §Agent Provider Metadata)', () => {
  it('publishes aauth-person.json with every implemented endpoint', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/.well-known/${DWK.person}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      person_token_endpoint: `${ISSUER}/person`,
      auth_token_endpoint: `${ISSUER}/token`,
      revocation_endpoint: `${ISSUER}/revoke`,
    });
    expect(body.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email']));
    expect(body.claims_supported).toEqual(expect.arrayContaining(['sub', 'email']));
  });

  it('publishes aauth-agent.json with the extension members', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/.well-known/${DWK.agent}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/agent-jwks.json`,
      name: expect.any(String),
      description: expect.any(String),
      enrollment_endpoint: `${ISSUER}/agent/enroll`,
      agent_token_endpoint: `${ISSUER}/agent/token`,
      subagent_token_endpoint: `${ISSUER}/agent/subagent-token`,
    });
  });

  it('serves two JWKS with public members only, and the PS and AP keys differ', async () => {
    const ps = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const ap = (await t.app.inject({ method: 'GET', url: '/.well-known/agent-jwks.json' })).json();
    for (const set of [ps, ap]) {
      expect(set.keys.length).toBeGreaterThan(0);
      for (const key of set.keys) {
        expect(key.d).toBeUndefined();
        expect(key.status).toBeUndefined();
        expect(key.alg).toBe('Ed25519');
        expect(typeof key.kid).toBe('string');
      }
    }
    const psX = new Set(ps.keys.map((k: { x: string }) => k.x));
    expect(ap.keys.some((k: { x: string }) => psX.has(k.x))).toBe(false);
    expect(ps.keys[0].x).toBe(t.psKeys.active.jwk.x);
    expect(ap.keys[0].x).toBe(t.apKeys.active.jwk.x);
  });
});

describe('health', () => {
  it('/healthz is alive and /readyz checks the database and migrations', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok' });
  });
});

describe('database schema', () => {
  it('the migrated database has every table and column the Prisma client uses', async () => {
    const p = t.prisma;
    const personId = randomUUID();
    const now = new Date(t.clock.now());
    const later = new Date(t.clock.now() + 60_000);
    await p.person.create({
      data: {
        id: personId,
        username: `u-${personId}`,
        passwordHash: 'x',
        displayName: 'U',
        email: 'u@example.com',
        tenant: 't',
      },
    });
    await p.webSession.create({ data: { idHash: `h-${personId}`, personId, expiresAt: later } });
    const enrollmentId = randomUUID();
    await p.enrollment.create({
      data: {
        id: enrollmentId,
        durableJkt: `j-${personId}`,
        durableJwk: { kty: 'OKP' },
        agentSub: `aauth:a${personId.slice(0, 8)}@localhost:3001`,
        ps: ISSUER,
        status: 'approved',
        personId,
        name: 'n',
        platform: 'p',
        device: 'd',
        decidedAt: now,
      },
    });
    await p.subAgent.create({
      data: {
        id: randomUUID(),
        enrollmentId,
        sub: `aauth:s${personId.slice(0, 8)}@localhost:3001`,
        parentAgent: 'aauth:x@localhost:3001',
      },
    });
    await p.issuedAgentToken.create({
      data: {
        jti: `a-${personId}`,
        sub: 's',
        cnfJkt: 'k',
        parentAgent: null,
        issuedAt: now,
        expiresAt: later,
      },
    });
    await p.agentBinding.create({
      data: {
        id: randomUUID(),
        agentIss: ISSUER,
        agentSub: 's',
        personId,
        agentName: 'n',
        platform: 'p',
        device: 'd',
        revokedAt: null,
      },
    });
    await p.directedSubject.create({
      data: { personId, resource: 'https://r.example', sub: `d-${personId}` },
    });
    await p.personTokenRecord.create({
      data: {
        jti: `p-${personId}`,
        ps: ISSUER,
        sub: 's',
        missionS256: null,
        tenant: null,
        exp: later,
        resource: 'https://r.example',
        personId,
        agentIss: ISSUER,
        agentSub: 's',
        subagentSub: null,
        cnfJkt: 'k',
        issuedAt: now,
      },
    });
    await p.resourceConsent.create({
      data: { personId, agentIss: ISSUER, agentSub: 's', resource: 'https://r.example' },
    });
    await p.scopeConsent.create({
      data: {
        id: randomUUID(),
        personId,
        agentIss: ISSUER,
        agentSub: 's',
        resource: 'https://r.example',
        scope: 'read',
        missionS256: null,
      },
    });
    await p.issuedAuthToken.create({
      data: {
        jti: `t-${personId}`,
        iss: ISSUER,
        aud: 'https://r.example',
        sub: 's',
        scope: 'read',
        missionS256: null,
        personId,
        agentIss: ISSUER,
        agentSub: 's',
        cnfJkt: 'k',
        issuedAt: now,
        exp: later,
      },
    });
    await p.pendingRequest.create({
      data: {
        id: `q-${personId}`,
        kind: 'enrollment',
        durableJkt: 'k',
        status: 'pending',
        request: {},
        interactionCode: `C${personId}`,
        expiresAt: later,
        callbackUrl: null,
        clarification: {},
        personId,
      },
    });
    await p.revocation.create({
      data: { iss: ISSUER, jti: `r-${personId}`, reason: 'test', expiresAt: later },
    });
    await p.replayEntry.create({ data: { key: `k-${personId}`, expiresAt: later } });
    await p.securityEvent.create({ data: { id: randomUUID(), event: 'test', detail: { a: 1 } } });
    // Every model reads back with every column.
    const counts = await Promise.all([
      p.person.count(),
      p.webSession.count(),
      p.enrollment.count(),
      p.subAgent.count(),
      p.issuedAgentToken.count(),
      p.agentBinding.count(),
      p.directedSubject.count(),
      p.personTokenRecord.count(),
      p.resourceConsent.count(),
      p.scopeConsent.count(),
      p.issuedAuthToken.count(),
      p.pendingRequest.count(),
      p.revocation.count(),
      p.replayEntry.count(),
      p.securityEvent.count(),
    ]);
    for (const count of counts) expect(count).toBeGreaterThan(0);
    expect(await p.pendingRequest.findUnique({ where: { id: `q-${personId}` } })).toMatchObject({
      retryAfter: 2,
      codeAttempts: 0,
    });
  });
});
