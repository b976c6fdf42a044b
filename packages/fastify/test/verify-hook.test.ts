import { DWK } from '@aauth-ref/core';
import {
  buildSignedRequest,
  injectBuilt,
  makeAgentToken,
  makeAuthToken,
  makeKeyPair,
  makePersonToken,
  makeRawJwt,
  signedInject,
} from '@aauth-ref/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, ISSUERS, type TestApp } from './helpers.js';

const SIG_ERROR_TYPE = 'urn:ietf:params:sig-error:';

let t: TestApp;
afterEach(async () => {
  await t?.app.close();
});

function agentToken(claims: Parameters<typeof makeAgentToken>[0] = {}) {
  return makeAgentToken({ issuer: t.ap, clock: t.clock, ...claims });
}

describe('unsigned requests (ARCHITECTURE.md Request path step 2)', () => {
  it('a PS endpoint rejects an unsigned request with 401 Signature-Error: invalid_request (§Verification step 1)', async () => {
    t = await buildTestApp('person-server');
    const res = await t.app.inject({ method: 'POST', url: '/token', payload: { a: 1 } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_request');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({
      type: `${SIG_ERROR_TYPE}invalid_request`,
      error: 'invalid_request',
      status: 401,
    });
  });

  it('an allowUnsigned resource route is reached with request.aauth = null and challenges', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({ method: 'GET', url: '/api' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['aauth-requirement']).toBe('requirement=agent-token');
    expect(res.headers['signature-error']).toBeUndefined();
  });

  it('a partial set of signature headers is invalid_request, even where unsigned is allowed', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({ method: 'GET', url: '/api', headers: { signature: 'sig=:AAAA:' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_request');
  });
});

describe('signed requests', () => {
  it('an agent token verifies and request.aauth is populated', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/whoami',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      scheme: 'jwt',
      tokenKind: 'agent',
      sub: agent.claims.sub,
      keyThumbprint: agent.key.thumbprint,
      label: 'sig',
      created: Math.floor(t.clock.now() / 1000),
    });
  });

  it('@authority comes from the issuer, not Host: a request signed for another authority fails', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const built = buildSignedRequest({
      method: 'GET',
      path: '/whoami',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: 'https://evil.example',
    });
    // Host matches what was signed, but the server derives @authority from its own identifier.
    const res = await injectBuilt(t.app, built);
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('a scheme the route does not accept is unsupported_scheme naming the route own list (§Signature-Key Scheme Rejection)', async () => {
    t = await buildTestApp('access-server');
    const agent = agentToken();
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/server-only',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=unsupported_scheme');
    expect(res.headers['accept-signature-scheme']).toBe('jwks_uri, hwk');
    expect(res.json()).toMatchObject({
      type: `${SIG_ERROR_TYPE}unsupported_scheme`,
      error: 'unsupported_scheme',
    });
  });

  it('a cnf key with an unimplemented alg is unsupported_algorithm with Accept-Signature-Alg (§Verification step 6)', async () => {
    t = await buildTestApp('person-server');
    const holder = makeKeyPair();
    const now = Math.floor(t.clock.now() / 1000);
    const jwt = makeRawJwt(
      { typ: 'aa-agent+jwt', kid: t.ap.signingKey.kid },
      {
        iss: t.ap.issuer,
        dwk: DWK.agent,
        sub: 'aauth:a@agent.example',
        jti: 'j1',
        iat: now,
        exp: now + 300,
        cnf: { jwk: { ...holder.jwk, alg: 'ES384' } },
      },
      t.ap.signingKey,
    );
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/whoami',
      key: holder,
      signatureKey: jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=unsupported_algorithm');
    expect(res.headers['accept-signature-alg']).toBe('Ed25519, ES256');
  });

  it('a signature outside the window is invalid_signature (§Verification step 3)', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const built = buildSignedRequest({
      method: 'GET',
      path: '/whoami',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    t.clock.advance(61_000);
    const res = await injectBuilt(t.app, built);
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('a body without content-digest coverage at a PS endpoint is invalid_input with required_input (§Covered Components)', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const built = buildSignedRequest({
      method: 'POST',
      path: '/token',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    const res = await injectBuilt(t.app, {
      ...built,
      headers: { ...built.headers, 'content-type': 'application/json' },
      body: Buffer.from('{"x":1}'),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe(
      'error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key" "content-type" "content-digest")',
    );
    expect(res.json()).toMatchObject({
      type: `${SIG_ERROR_TYPE}invalid_input`,
      required_input: expect.any(Array),
    });
  });

  it('a body that does not match its Content-Digest is rejected', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const built = buildSignedRequest({
      method: 'POST',
      path: '/token',
      body: { resource: 'https://resource.example' },
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    const res = await injectBuilt(t.app, {
      ...built,
      body: Buffer.from('{"resource":"https://evil.example"}'),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_signature');
  });
});

describe('replay cache on state-changing routes (§Freshness and Replay)', () => {
  it('a byte-identical replay is invalid_signature; a distinct POST in the same second succeeds', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    const sign = (body: Record<string, unknown>) =>
      buildSignedRequest({
        method: 'POST',
        path: '/token',
        body,
        key: agent.key,
        signatureKey: agent.jwt,
        clock: t.clock,
        issuer: t.issuer,
      });
    const first = sign({ n: 1 });
    expect((await injectBuilt(t.app, first)).statusCode).toBe(200);
    const replay = await injectBuilt(t.app, first);
    expect(replay.statusCode).toBe(401);
    expect(replay.headers['signature-error']).toBe('error=invalid_signature');
    const second = await injectBuilt(t.app, sign({ n: 2 }));
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ sub: agent.claims.sub, kind: 'agent', body: { n: 2 } });
  });
});

describe('tokens that verify but cannot be used here (ARCHITECTURE.md Request path)', () => {
  it('a revoked token at a resource is 401 invalid_jwt (§Token Revocation)', async () => {
    t = await buildTestApp('resource');
    const agent = agentToken();
    t.revoked.add(`${agent.claims.iss} ${agent.claims.jti}`);
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/api',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_jwt');
    expect(res.json()).toMatchObject({ type: `${SIG_ERROR_TYPE}invalid_jwt`, error: 'invalid_jwt' });
  });

  it('a revoked agent token at the PS is 400 invalid_agent_token without Signature-Error (§Token Revocation)', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken();
    t.revoked.add(`${agent.claims.iss} ${agent.claims.jti}`);
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/whoami',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.json()).toEqual({
      status: 400,
      error: 'invalid_agent_token',
      detail: 'The agent token has been revoked.',
    });
  });

  it('revocation is keyed by (iss, jti): the same jti from another issuer is not revoked', async () => {
    t = await buildTestApp('resource');
    const agent = agentToken({ claims: { jti: 'shared-jti' } });
    t.revoked.add('https://other.example shared-jti');
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/api',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(200);
  });

  it('a sub-agent token signing at a PS route that rejects sub-agents is 400 invalid_agent_token', async () => {
    t = await buildTestApp('person-server');
    const agent = agentToken({ parent_agent: 'aauth:parent@agent.example' });
    const res = await signedInject(t.app, {
      method: 'POST',
      path: '/token',
      body: {},
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_agent_token' });
  });

  it('a person token for another resource is 400 invalid_person_token (§Person Token Verification)', async () => {
    t = await buildTestApp('resource');
    const person = makePersonToken({ issuer: t.ps, clock: t.clock, aud: 'https://other-resource.example' });
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/api',
      key: person.key,
      signatureKey: person.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.json()).toMatchObject({ error: 'invalid_person_token' });
  });

  it('an auth token for another resource is 401 invalid_jwt (§Auth Token Verification)', async () => {
    t = await buildTestApp('resource');
    const auth = makeAuthToken({ issuer: t.as, clock: t.clock, aud: 'https://other-resource.example' });
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/api',
      key: auth.key,
      signatureKey: auth.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('person and auth tokens for this resource reach the route', async () => {
    t = await buildTestApp('resource');
    const person = makePersonToken({ issuer: t.ps, clock: t.clock, aud: ISSUERS.resource });
    const auth = makeAuthToken({ issuer: t.as, clock: t.clock, aud: ISSUERS.resource, key: person.key });
    for (const [jwt, kind] of [
      [person.jwt, 'person'],
      [auth.jwt, 'auth'],
    ] as const) {
      const res = await signedInject(t.app, {
        method: 'GET',
        path: '/api',
        key: person.key,
        signatureKey: jwt,
        clock: t.clock,
        issuer: t.issuer,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ kind });
    }
  });

  it('a token signed by an unknown key is 401 unknown_key', async () => {
    t = await buildTestApp('resource');
    const agent = agentToken({ signer: makeKeyPair('Ed25519', 'not-published') });
    const res = await signedInject(t.app, {
      method: 'GET',
      path: '/api',
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBe('error=unknown_key');
    expect(DWK.agent).toBe('aauth-agent.json');
  });
});
