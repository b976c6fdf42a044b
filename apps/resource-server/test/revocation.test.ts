import { DWK } from '@aauth-ref/core';
import { injectBuilt, type TestIssuer } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  buildRequest,
  decodePayload,
  newAgent,
  personToken,
  send,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ ACCESS_SERVER: 'https://as.example' });
});
afterAll(async () => {
  await t?.close();
});

const BODY_COMPONENTS = ['content-type', 'content-digest'];

/** A server's signed `POST /revoke` (`jwks_uri` under its own document, body covered). */
function revoke(server: TestIssuer, body: Record<string, unknown>, dwk: string = server.dwk) {
  return send(t, {
    method: 'POST',
    path: '/revoke',
    key: server.signingKey,
    signatureKey: { scheme: 'jwks_uri', id: server.issuer, dwk, kid: server.signingKey.kid },
    body,
    additionalComponents: BODY_COMPONENTS,
  });
}

/** An agent holding an accepted auth token (the resource has seen it once). */
async function acceptedAuthToken(options: { issuer?: TestIssuer } = {}) {
  const agent = newAgent(t);
  await send(t, { path: '/api/me', key: agent.key, signatureKey: personToken(t, agent.key) });
  const token = authToken(t, agent.key, options.issuer ? { issuer: options.issuer } : {});
  const first = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
  expect(first.statusCode).toBe(200);
  return { agent, token, jti: decodePayload(token).jti as string, iss: decodePayload(token).iss as string };
}

describe('POST /revoke — §Token Revocation', () => {
  it('the issuing PS revokes an auth token: 200, and the token stops working at once (401 invalid_jwt)', async () => {
    const { agent, token, jti, iss } = await acceptedAuthToken();
    const response = await revoke(t.ps, { iss, jti });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({});
    const after = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(after.statusCode).toBe(401);
    expect(after.headers['signature-error']).toBe('error=invalid_jwt');
    // Revoking again is still 200 (already invalid); a second later, so it is not a replay.
    t.clock.advance(1_000);
    expect((await revoke(t.ps, { iss, jti })).statusCode).toBe(200);
  });

  it('the AS revokes an auth token it issued', async () => {
    const { agent, token, jti, iss } = await acceptedAuthToken({ issuer: t.as });
    expect((await revoke(t.as, { iss, jti })).statusCode).toBe(200);
    expect((await send(t, { path: '/api/notes', key: agent.key, signatureKey: token })).statusCode).toBe(401);
  });

  it('a trusted PS revokes an AS-issued auth token it provided (ps names it)', async () => {
    const { jti, iss } = await acceptedAuthToken({ issuer: t.as });
    expect((await revoke(t.ps, { iss, jti })).statusCode).toBe(200);
  });

  it('the issuing PS revokes a person token it issued', async () => {
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { jti: 'pt-revoke-1' });
    expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt })).statusCode).toBe(200);
    expect((await revoke(t.ps, { iss: t.ps.issuer, jti: 'pt-revoke-1' })).statusCode).toBe(200);
    const after = await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt });
    expect(after.statusCode).toBe(401);
    expect(after.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('§Resource Access and Resource Tokens: a revoked person token is never named again — the agent is asked for a new one (requirement=person-token)', async () => {
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { jti: 'pt-revoke-named' });
    expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt })).statusCode).toBe(200);
    // Before the revocation an agent token is answered with a resource token naming that person token.
    const before = await send(t, { path: '/api/notes', key: agent.key, signatureKey: agent.agentToken });
    expect(before.statusCode).toBe(401);
    expect(before.headers['aauth-requirement']).toMatch(/^requirement=auth-token;resource-token="/);
    expect((await revoke(t.ps, { iss: t.ps.issuer, jti: 'pt-revoke-named' })).statusCode).toBe(200);
    const after = await send(t, { path: '/api/notes', key: agent.key, signatureKey: agent.agentToken });
    expect(after.statusCode).toBe(401);
    expect(after.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(after.headers['signature-error']).toBeUndefined();
  });

  it('an unknown (iss, jti) → 404', async () => {
    const response = await revoke(t.ps, { iss: t.ps.issuer, jti: 'never-seen' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'not_found' });
  });

  it('keys revocation by (iss, jti): the same jti from another issuer is another token', async () => {
    const { jti } = await acceptedAuthToken();
    const response = await revoke(t.as, { iss: t.as.issuer, jti });
    expect(response.statusCode).toBe(404);
  });

  it('only the issuer or a trusted PS may revoke → 403 without Signature-Error', async () => {
    const { jti, iss } = await acceptedAuthToken();
    // ps2 never had a person token verified here: not a trusted PS.
    const response = await revoke(t.ps2, { iss, jti });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: 'forbidden' });
    expect(response.headers['signature-error']).toBeUndefined();
  });

  it('a trusted PS may not revoke a token of another PS', async () => {
    const agent = newAgent(t);
    await send(t, {
      path: '/api/me',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { issuer: t.ps2 }),
    });
    const { jti, iss } = await acceptedAuthToken();
    const response = await revoke(t.ps2, { iss, jti });
    expect(response.statusCode).toBe(403);
  });

  it('agents cannot call it: a jwt-signed request → 401 unsupported_scheme with Accept-Signature-Scheme', async () => {
    const { agent, token, jti, iss } = await acceptedAuthToken();
    const response = await send(t, {
      method: 'POST',
      path: '/revoke',
      key: agent.key,
      signatureKey: token,
      body: { iss, jti },
      additionalComponents: BODY_COMPONENTS,
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=unsupported_scheme');
    expect(response.headers['accept-signature-scheme']).toBe('jwks_uri');
  });

  it('an Agent Provider document is not accepted for jwks_uri here → 401 invalid_key', async () => {
    const response = await revoke(t.ap, { iss: t.ap.issuer, jti: 'x' }, DWK.agent);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_key');
  });

  it.each([
    ['no jti', { iss: 'https://ps.example' }],
    ['no iss', { jti: 'x' }],
    ['jti not a string', { iss: 'https://ps.example', jti: 1 }],
  ])('%s → 400 invalid_request', async (_name, body) => {
    const response = await revoke(t.ps, body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('a replayed revocation request → 401 invalid_signature', async () => {
    const { jti, iss } = await acceptedAuthToken();
    const request = buildRequest(t, {
      method: 'POST',
      path: '/revoke',
      key: t.ps.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: t.ps.issuer, dwk: DWK.person, kid: t.ps.signingKey.kid },
      body: { iss, jti },
      additionalComponents: BODY_COMPONENTS,
    });
    expect((await injectBuilt(t.app, request)).statusCode).toBe(200);
    const replay = await injectBuilt(t.app, request);
    expect(replay.statusCode).toBe(401);
    expect(replay.headers['signature-error']).toBe('error=invalid_signature');
  });
});
