import { createLocalKeyResolver, createTokenVerifier, DEV, DWK, signRequest } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodePayload,
  ISSUER,
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

function authorize(
  body: unknown,
  options: { signatureKey: string; key: ReturnType<typeof newAgent>['key'] },
) {
  return send(t, {
    method: 'POST',
    path: '/authorize',
    key: options.key,
    signatureKey: options.signatureKey,
    body: body as never,
  });
}

describe('POST /authorize — §Authorization Endpoint Request', () => {
  it('answers { resource_token } with exactly the claims of §Resource Token Structure', async () => {
    const agent = newAgent(t);
    const mission = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const jwt = personToken(t, agent.key, {
      sub: 'alice',
      mission_s256: mission,
      tenant: 'acme',
      jti: 'pt-auth-1',
    });
    const response = await authorize(
      { scope: 'notes.read notes.write', account: 'work' },
      { key: agent.key, signatureKey: jwt },
    );
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json() as { resource_token: string };
    expect(Object.keys(body)).toEqual(['resource_token']);
    const header = JSON.parse(Buffer.from(body.resource_token.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-resource+jwt', kid: t.keys.active.kid });
    const claims = decodePayload(body.resource_token);
    const now = Math.floor(t.clock.now() / 1000);
    expect(claims).toEqual({
      iss: ISSUER,
      dwk: 'aauth-resource.json',
      aud: t.ps.issuer,
      jti: expect.any(String),
      ps: t.ps.issuer,
      sub: 'alice',
      presented_jti: 'pt-auth-1',
      agent_jkt: agent.key.thumbprint,
      iat: now,
      exp: now + 300,
      scope: 'notes.read notes.write',
      account: 'work',
      mission_s256: mission,
      tenant: 'acme',
    });
    // No agent identifier anywhere (§Resource Token Structure).
    expect(JSON.stringify(claims)).not.toContain(agent.sub);
  });

  it('§Resource Token Structure: exp never outlives the person token it names', async () => {
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { lifetimeSeconds: 120 });
    const response = await authorize({ scope: 'notes.read' }, { key: agent.key, signatureKey: jwt });
    const claims = decodePayload(response.json().resource_token);
    expect(claims.exp).toBe(Math.floor(t.clock.now() / 1000) + 120);
  });

  it('omits account, mission_s256 and tenant when there are none', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read' },
      { key: agent.key, signatureKey: personToken(t, agent.key) },
    );
    const claims = decodePayload(response.json().resource_token);
    expect(claims).not.toHaveProperty('account');
    expect(claims).not.toHaveProperty('mission_s256');
    expect(claims).not.toHaveProperty('tenant');
  });

  it('the resource token verifies as the PS would verify it (§Resource Token Verification steps 1–5)', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read' },
      { key: agent.key, signatureKey: personToken(t, agent.key) },
    );
    const verifier = createTokenVerifier({
      clock: t.clock,
      keys: createLocalKeyResolver([
        { issuer: ISSUER, dwk: DWK.resource, keys: t.keys.published, metadata: { issuer: ISSUER } },
      ]),
      identifierPolicy: DEV,
    });
    const verified = await verifier.verify(response.json().resource_token, {
      kinds: ['resource'],
      audience: t.ps.issuer,
    });
    expect(verified.claims.agent_jkt).toBe(agent.key.thumbprint);
  });

  it('ignores unknown members', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read', extra: 1 },
      { key: agent.key, signatureKey: personToken(t, agent.key) },
    );
    expect(response.statusCode).toBe(200);
  });

  it('§Person Token Required: unsigned → 401 requirement=person-token', async () => {
    const response = await sendUnsigned(t, {
      method: 'POST',
      path: '/authorize',
      body: { scope: 'notes.read' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('§Person Token Required: an agent token → 401 requirement=person-token, never a resource token', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read' },
      { key: agent.key, signatureKey: agent.agentToken },
    );
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(response.body).toBe('');
  });

  it('§Authorization Endpoint Error Responses: wrong aud → 400 invalid_person_token', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read' },
      { key: agent.key, signatureKey: personToken(t, agent.key, { aud: 'https://elsewhere.example' }) },
    );
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_person_token' });
  });

  it.each([
    ['no scope', {}],
    ['scope not a string', { scope: ['notes.read'] }],
    ['empty scope', { scope: '' }],
    ['double space', { scope: 'notes.read  notes.write' }],
    ['account not a string', { scope: 'notes.read', account: 7 }],
    ['empty account', { scope: 'notes.read', account: '' }],
    ['body not an object', ['notes.read']],
  ])('§Authorization Endpoint Error Responses: %s → 400 invalid_request', async (_name, body) => {
    const agent = newAgent(t);
    const response = await authorize(body, { key: agent.key, signatureKey: personToken(t, agent.key) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('§Authorization Endpoint Error Responses: an unknown scope → 400 invalid_scope', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read notes.delete' },
      { key: agent.key, signatureKey: personToken(t, agent.key) },
    );
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('§Authorization Endpoint Error Responses: an account the person does not hold → 400 invalid_account', async () => {
    const agent = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read', account: 'someone-else' },
      { key: agent.key, signatureKey: personToken(t, agent.key) },
    );
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_account' });
  });

  it('§Authorization Endpoint Error Responses: a bad signature → 401 invalid_signature', async () => {
    const agent = newAgent(t);
    const other = newAgent(t);
    const response = await authorize(
      { scope: 'notes.read' },
      { key: other.key, signatureKey: personToken(t, agent.key) },
    );
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('§Covered Components: a body not covered by content-digest → 401 invalid_input', async () => {
    const agent = newAgent(t);
    const response = await t.app.inject({
      method: 'POST',
      url: '/authorize',
      headers: {
        host: 'localhost:3003',
        ...signRequest(
          { method: 'POST', url: `${ISSUER}/authorize`, headers: {} },
          { key: agent.key, signatureKey: { scheme: 'jwt', jwt: personToken(t, agent.key) }, clock: t.clock },
        ),
        'content-type': 'application/json',
      },
      payload: JSON.stringify({ scope: 'notes.read' }),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toMatch(/^error=invalid_input/);
  });
});

describe('four-party audience (ACCESS_SERVER)', () => {
  let federated: TestApp;
  beforeAll(async () => {
    federated = await startTestApp({
      ACCESS_SERVER: 'https://as.example',
      ACCESS_SERVER_SCOPES: 'notes.write',
    });
  });
  afterAll(async () => {
    await federated?.close();
  });

  it('a delegated scope makes the access server the aud; ps stays the person token issuer', async () => {
    const agent = newAgent(federated);
    const response = await send(federated, {
      method: 'POST',
      path: '/authorize',
      key: agent.key,
      signatureKey: personToken(federated, agent.key),
      body: { scope: 'notes.write' },
    });
    expect(decodePayload(response.json().resource_token)).toMatchObject({
      aud: 'https://as.example',
      ps: federated.ps.issuer,
    });
  });

  it('a scope kept by the resource stays three-party (aud = the PS)', async () => {
    const agent = newAgent(federated);
    const response = await send(federated, {
      method: 'POST',
      path: '/authorize',
      key: agent.key,
      signatureKey: personToken(federated, agent.key),
      body: { scope: 'notes.read' },
    });
    expect(decodePayload(response.json().resource_token)).toMatchObject({ aud: federated.ps.issuer });
  });
});
