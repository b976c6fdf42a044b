import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  decodePayload,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  sendUnsigned,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** An agent whose person token this resource has verified (so its PS is trusted here). */
async function agentWithPerson(sub: string): Promise<TestAgent & { personJti: string }> {
  const agent = newAgent(t);
  const personJti = `pt-${sub}-${Math.random().toString(36).slice(2)}`;
  const response = await send(t, {
    path: '/api/me',
    key: agent.key,
    signatureKey: personToken(t, agent.key, { sub, jti: personJti }),
  });
  expect(response.statusCode).toBe(200);
  return { ...agent, personJti };
}

function whoami(agent: TestAgent, token: string) {
  return send(t, { path: '/api/whoami', key: agent.key, signatureKey: token });
}

describe('GET /api/whoami — who an auth token speaks for (§PS Authorization Access)', () => {
  it('an auth token with notes.read → 200 {iss, ps, sub, scope, notebook, exp}, the same answer on every request', async () => {
    const agent = await agentWithPerson('who-1');
    const token = authToken(t, agent.key, { sub: 'who-1', scope: 'notes.read', account: 'work' });
    const claims = decodePayload(token);
    for (let i = 0; i < 2; i++) {
      t.clock.advance(1_000);
      const response = await whoami(agent, token);
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.json()).toEqual({
        iss: t.ps.issuer,
        ps: t.ps.issuer,
        sub: 'who-1',
        scope: 'notes.read',
        notebook: 'work',
        exp: claims.exp,
      });
    }
  });

  it('unsigned → 401 requirement=person-token', async () => {
    const response = await sendUnsigned(t, { path: '/api/whoami' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('§Auth Token Required: a person token → 401 auth-token whose resource token asks for notes.read', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      path: '/api/whoami',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { sub: 'who-2' }),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBeUndefined();
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      ps: t.ps.issuer,
      sub: 'who-2',
      scope: 'notes.read',
    });
  });

  it('step-up: an auth token without notes.read → 401 auth-token for the held scope plus notes.read, not a 403', async () => {
    const agent = await agentWithPerson('who-3');
    const writeOnly = authToken(t, agent.key, { sub: 'who-3', scope: 'notes.write' });
    const response = await whoami(agent, writeOnly);
    expect(response.statusCode).toBe(401);
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      sub: 'who-3',
      presented_jti: agent.personJti,
      scope: 'notes.write notes.read',
    });
  });

  it('§Request-Context Binding step 5: an auth token for another resource → 401 Signature-Error invalid_jwt', async () => {
    const agent = await agentWithPerson('who-4');
    const token = authToken(t, agent.key, { sub: 'who-4', aud: 'https://other-resource.example' });
    const response = await whoami(agent, token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
    expect(response.json()).toMatchObject({
      error: 'invalid_jwt',
      type: 'urn:ietf:params:sig-error:invalid_jwt',
    });
  });

  it('§Request-Context Binding step 6: signed by a key other than cnf.jwk → 401 invalid_signature, also once the token is cached', async () => {
    const agent = await agentWithPerson('who-5');
    const token = authToken(t, agent.key, { sub: 'who-5' });
    expect((await whoami(agent, token)).statusCode).toBe(200);
    const thief = newAgent(t);
    const response = await whoami(thief, token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('an expired auth token → 401 Signature-Error expired_jwt, also once the token is cached', async () => {
    const agent = await agentWithPerson('who-6');
    const token = authToken(t, agent.key, { sub: 'who-6' });
    expect((await whoami(agent, token)).statusCode).toBe(200);
    t.clock.advance(3_601_000);
    const response = await whoami(agent, token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=expired_jwt');
  });

  it('§Token Revocation: a revoked auth token → 401 invalid_jwt at once, although it was accepted before', async () => {
    const agent = await agentWithPerson('who-7');
    const token = authToken(t, agent.key, { sub: 'who-7' });
    expect((await whoami(agent, token)).statusCode).toBe(200);
    const { iss, jti } = decodePayload(token) as { iss: string; jti: string };
    const revoked = await send(t, {
      method: 'POST',
      path: '/revoke',
      key: t.ps.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: t.ps.issuer, dwk: t.ps.dwk, kid: t.ps.signingKey.kid },
      body: { iss, jti },
      additionalComponents: ['content-type', 'content-digest'],
    });
    expect(revoked.statusCode).toBe(200);
    const response = await whoami(agent, token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });
});
