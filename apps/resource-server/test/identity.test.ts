import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  newAgent,
  personToken,
  send,
  sendUnsigned,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/agent/whoami — agent identity (§Agent Identity Access)', () => {
  it('serves on a verified agent token alone and names the agent', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      path: '/api/agent/whoami',
      key: agent.key,
      signatureKey: agent.agentToken,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      agent: agent.sub,
      agent_provider: t.ap.issuer,
      ps: t.ps.issuer,
      key_thumbprint: agent.key.thumbprint,
    });
  });

  it('§Agent Token Required: unsigned → 401 requirement=agent-token', async () => {
    const response = await sendUnsigned(t, { path: '/api/agent/whoami' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=agent-token');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['signature-error']).toBeUndefined();
  });

  it('a person token carries no agent identifier → 401 requirement=agent-token', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      path: '/api/agent/whoami',
      key: agent.key,
      signatureKey: personToken(t, agent.key),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=agent-token');
  });

  it('§Verification: a signature by another key than the token binds → 401 invalid_signature', async () => {
    const agent = newAgent(t);
    const other = newAgent(t);
    const response = await send(t, {
      path: '/api/agent/whoami',
      key: other.key,
      signatureKey: agent.agentToken,
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('§Verification step 1: a half-signed request → 401 Signature-Error invalid_request', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/agent/whoami',
      headers: { host: 'localhost:3003', 'signature-input': 'sig=("@method");created=1' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_request');
  });
});

describe('GET /api/me — person identity (§Person Identity Access)', () => {
  it('serves on a verified person token: iss, sub, tenant, mission_s256 and the notes count', async () => {
    const agent = newAgent(t);
    const mission = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const response = await send(t, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { sub: 'me-1', tenant: 'acme', mission_s256: mission }),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      iss: t.ps.issuer,
      sub: 'me-1',
      tenant: 'acme',
      mission_s256: mission,
      via: 'person-token',
      notes_count: 0,
    });
  });

  it('records the verified person token (jti, iss, sub, mission_s256, tenant, exp, key thumbprint)', async () => {
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { sub: 'me-2', tenant: 'acme', jti: 'pt-me-2' });
    await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt });
    const row = await t.prisma.personTokenRecord.findUnique({
      where: { iss_jti: { iss: t.ps.issuer, jti: 'pt-me-2' } },
    });
    expect(row).toMatchObject({
      sub: 'me-2',
      tenant: 'acme',
      missionS256: null,
      cnfJkt: agent.key.thumbprint,
    });
    expect(row!.exp.getTime()).toBe(t.clock.now() + 3600_000);
  });

  it('also serves on an auth token for this resource (the same person)', async () => {
    const agent = newAgent(t);
    await send(t, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { sub: 'me-3' }),
    });
    const response = await send(t, {
      path: '/api/me',
      key: agent.key,
      signatureKey: authToken(t, agent.key, { sub: 'me-3' }),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ iss: t.ps.issuer, sub: 'me-3', via: 'auth-token' });
  });

  it('§Person Token Required: unsigned → 401 requirement=person-token', async () => {
    const response = await sendUnsigned(t, { path: '/api/me' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('§Person Token Required: an agent token → 401 requirement=person-token', async () => {
    const agent = newAgent(t);
    const response = await send(t, { path: '/api/me', key: agent.key, signatureKey: agent.agentToken });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('§Person Token Verification step 5: a person token for another resource → 400 invalid_person_token', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { aud: 'https://other-resource.example' }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_person_token' });
    expect(response.headers['signature-error']).toBeUndefined();
  });

  it('an expired person token → 401 Signature-Error expired_jwt', async () => {
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { lifetimeSeconds: 60 });
    t.clock.advance(61_000);
    try {
      const response = await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt });
      expect(response.statusCode).toBe(401);
      expect(response.headers['signature-error']).toBe('error=expired_jwt');
    } finally {
      t.clock.advance(-61_000);
    }
  });
});

describe('PERSON_SERVER_TRUST as a list', () => {
  let listed: TestApp;
  beforeAll(async () => {
    listed = await startTestApp({ PERSON_SERVER_TRUST: 'https://ps.example' });
  });
  afterAll(async () => {
    await listed?.close();
  });

  it('accepts a person token from a listed PS', async () => {
    const agent = newAgent(listed);
    const response = await send(listed, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(listed, agent.key),
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses a person token from an unlisted PS → 401 invalid_jwt', async () => {
    const agent = newAgent(listed);
    const response = await send(listed, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(listed, agent.key, { issuer: listed.ps2 }),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });
});
