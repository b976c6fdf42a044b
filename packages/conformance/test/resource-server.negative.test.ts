import { DWK, type KeyPair } from '@aauth-ref/core';
import { makeKeyPair, makeRawJwt } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type NegativeCase, runNegativeCases } from '../src/cases.js';
import { decodeClaims, flipJwtSignature, forgeRequest, injectForged, tamperJwt } from '../src/forge.js';
import { RS_ISSUER, type RunningServer, startResourceServer } from '../src/servers.js';
import { type SignedEndpoint, signatureFailureCases } from '../src/signature-cases.js';

/**
 * The demo resource (§Resource Access Modes, §Resource Token, §Token Revocation): every endpoint per
 * access mode — agent-token (`/api/agent/whoami`), person-token (`/api/me`, `/authorize`),
 * auth-token (`/api/notes`) — plus its pending URL and `revocation_endpoint`.
 */

let rs: RunningServer & { readonly keys: unknown };
const clock = () => rs.clock;

beforeAll(async () => {
  rs = await startResourceServer({ env: { PERSON_SERVER_TRUST: 'https://ps.example https://ps2.example' } });
  await setUp();
});
afterAll(async () => {
  await rs?.close();
});

const agentKey: KeyPair = makeKeyPair();
const otherKey: KeyPair = makeKeyPair();
const AGENT_SUB = 'aauth:agent-conformance@agent.example';

function agentToken(claims: Record<string, unknown> = {}, lifetimeSeconds = 3600): string {
  return rs.parties.ap.issue('agent', { sub: AGENT_SUB, cnf: { jwk: agentKey.jwk }, ...claims } as never, {
    clock: rs.clock,
    lifetimeSeconds,
  });
}

function personToken(
  claims: Record<string, unknown> = {},
  issuer = rs.parties.ps,
  lifetimeSeconds = 3600,
): string {
  return issuer.issue(
    'person',
    { aud: RS_ISSUER, sub: 'person-alice', cnf: { jwk: agentKey.jwk }, ...claims } as never,
    { clock: rs.clock, lifetimeSeconds },
  );
}

function authToken(
  claims: Record<string, unknown> = {},
  issuer = rs.parties.ps,
  lifetimeSeconds = 3600,
): string {
  return issuer.issue(
    'auth',
    {
      aud: RS_ISSUER,
      ps: issuer.issuer,
      sub: 'person-alice',
      cnf: { jwk: agentKey.jwk },
      scope: 'notes.read notes.write',
      ...claims,
    } as never,
    { clock: rs.clock, lifetimeSeconds },
  );
}

/** An auth token revoked through the resource's own revocation endpoint in `setUp`. */
let revokedAuthToken = '';
let noteId = '';

async function setUp(): Promise<void> {
  revokedAuthToken = authToken({ jti: 'revoked-auth-token' });
  // The resource knows (iss, jti) only once the token was presented to it.
  const used = await injectForged(rs.app, RS_ISSUER, send({ path: '/api/notes', token: revokedAuthToken }));
  expect(used.statusCode).toBe(200);
  const revoke = await injectForged(
    rs.app,
    RS_ISSUER,
    forgeRequest({
      method: 'POST',
      path: '/revoke',
      issuer: RS_ISSUER,
      clock: rs.clock,
      body: { iss: rs.parties.ps.issuer, jti: 'revoked-auth-token' },
      key: rs.parties.ps.signingKey,
      signatureKey: {
        scheme: 'jwks_uri',
        id: rs.parties.ps.issuer,
        dwk: DWK.person,
        kid: rs.parties.ps.signingKey.kid,
      },
    }),
  );
  expect(revoke.statusCode).toBe(200);
  const created = await injectForged(
    rs.app,
    RS_ISSUER,
    forgeRequest({
      method: 'POST',
      path: '/api/notes',
      issuer: RS_ISSUER,
      clock: rs.clock,
      body: { text: 'first' },
      key: agentKey,
      signatureKey: authToken(),
    }),
  );
  expect(created.statusCode).toBe(201);
  noteId = String(created.json().id ?? created.json().note?.id);
}

const send = (options: {
  method?: string;
  path: string;
  body?: unknown;
  token?: string;
  key?: KeyPair;
  headers?: Record<string, string>;
}) =>
  forgeRequest({
    method: options.method ?? 'GET',
    path: options.path,
    issuer: RS_ISSUER,
    clock: clock(),
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: {
      ...(typeof options.body === 'string' ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    key: options.key ?? agentKey,
    signatureKey: options.token ?? authToken(),
  });

const revokeAs = (
  body: unknown,
  party: 'ps' | 'ps2' | 'ap' | 'as' | 'stranger' = 'ps',
  dwk: string = DWK.person,
) => {
  const signer = rs.parties[party];
  return forgeRequest({
    method: 'POST',
    path: '/revoke',
    issuer: RS_ISSUER,
    clock: clock(),
    body,
    key: signer.signingKey,
    signatureKey: { scheme: 'jwks_uri', id: signer.issuer, dwk: dwk as never, kid: signer.signingKey.kid },
  });
};

function endpoint(
  label: string,
  partial: Omit<SignedEndpoint, 'label' | 'issuer' | 'clock'>,
): SignedEndpoint {
  return {
    label: `RS ${label}`,
    issuer: RS_ISSUER,
    get clock() {
      return clock();
    },
    ...partial,
  };
}

const JWT_ONLY = /^\(?"?jwt"?\)?$|jwt/;
const hwkOf = (key: KeyPair) => {
  const { kid: _kid, ...jwk } = key.jwk;
  return { scheme: 'hwk' as const, jwk: jwk as Record<string, string> };
};

const signatureCases: NegativeCase[] = [
  endpoint('GET /api/notes', {
    method: 'GET',
    path: '/api/notes',
    signer: () => ({ key: agentKey, signatureKey: authToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: false,
  }),
  endpoint('POST /api/notes', {
    method: 'POST',
    path: '/api/notes',
    body: { text: 'x' },
    signer: () => ({ key: agentKey, signatureKey: authToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: true,
  }),
  endpoint('DELETE /api/notes/:id', {
    method: 'DELETE',
    path: () => `/api/notes/${noteId}`,
    signer: () => ({ key: agentKey, signatureKey: authToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: true,
  }),
  endpoint('GET /api/me', {
    method: 'GET',
    path: '/api/me',
    signer: () => ({ key: agentKey, signatureKey: personToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: false,
  }),
  endpoint('GET /api/agent/whoami', {
    method: 'GET',
    path: '/api/agent/whoami',
    signer: () => ({ key: agentKey, signatureKey: agentToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: false,
  }),
  endpoint('GET /api/journal', {
    method: 'GET',
    path: '/api/journal',
    signer: () => ({ key: agentKey, signatureKey: authToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: false,
  }),
  endpoint('GET /pending/:id', {
    method: 'GET',
    path: `/pending/${'A'.repeat(43)}`,
    signer: () => ({ key: agentKey, signatureKey: agentToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: false,
  }),
  endpoint('POST /authorize', {
    method: 'POST',
    path: '/authorize',
    body: { scope: 'notes.read' },
    signer: () => ({ key: agentKey, signatureKey: personToken() }),
    acceptSchemes: JWT_ONLY,
    otherScheme: hwkOf(agentKey),
    bodyCovered: true,
  }),
  endpoint('POST /revoke', {
    method: 'POST',
    path: '/revoke',
    body: { iss: 'https://ps.example', jti: 'nothing' },
    signer: () => ({
      key: rs.parties.ps.signingKey,
      signatureKey: {
        scheme: 'jwks_uri',
        id: rs.parties.ps.issuer,
        dwk: DWK.person,
        kid: rs.parties.ps.signingKey.kid,
      },
    }),
    acceptSchemes: /jwks_uri/,
    otherScheme: { scheme: 'jwt', jwt: 'e30.e30.e30' },
    bodyCovered: true,
  }),
].flatMap(signatureFailureCases);

const tokenCases: NegativeCase[] = [
  // §Resource Access Modes: insufficient credentials are challenges, not errors.
  {
    name: 'RS GET /api/notes unsigned → 401 requirement=person-token, no Signature-Error (§Resource Access Modes)',
    request: () => rs.app.inject({ method: 'GET', url: '/api/notes', headers: { host: 'localhost:3003' } }),
    expect: { status: 401, requirement: 'person-token', headers: { 'signature-error': null } },
  },
  {
    name: 'RS GET /api/notes with an agent token → 401 requirement=person-token (§Person Token Required)',
    request: () => send({ path: '/api/notes', token: agentToken() }),
    expect: { status: 401, requirement: 'person-token', headers: { 'signature-error': null } },
  },
  {
    name: 'RS GET /api/notes with a person token → 401 requirement=auth-token (§Auth Token Required)',
    request: () => send({ path: '/api/notes', token: personToken() }),
    expect: { status: 401, requirement: 'auth-token', headers: { 'aauth-requirement': /resource-token="/ } },
    mayChange: { person_token_record: 'the verified person token is recorded (§Person Token Verification)' },
  },
  {
    name: 'RS GET /api/notes with an auth token lacking notes.read → 401 requirement=auth-token (§Auth Token Required)',
    request: () => send({ path: '/api/notes', token: authToken({ scope: 'notes.write' }) }),
    expect: { status: 401, requirement: 'auth-token' },
    mayChange: {
      auth_token_record: 'the verified auth token is recorded for revocation (§Token Revocation)',
    },
  },
  {
    name: 'RS GET /api/me with an agent token → 401 requirement=person-token (§Person Token Required)',
    request: () => send({ path: '/api/me', token: agentToken() }),
    expect: { status: 401, requirement: 'person-token' },
  },
  {
    name: 'RS GET /api/agent/whoami unsigned → 401 requirement=agent-token (§Agent Token Required)',
    request: () =>
      rs.app.inject({ method: 'GET', url: '/api/agent/whoami', headers: { host: 'localhost:3003' } }),
    expect: { status: 401, requirement: 'agent-token' },
  },
  {
    name: 'RS POST /authorize with an agent token → 401 requirement=person-token (§Authorization Endpoint)',
    request: () =>
      send({ method: 'POST', path: '/authorize', body: { scope: 'notes.read' }, token: agentToken() }),
    expect: { status: 401, requirement: 'person-token' },
  },
  // §Auth Token Verification / Signature-Key §3.5: each claim wrong or missing.
  {
    name: 'RS GET /api/notes auth token with exp moved into the past, not re-signed → expired_jwt (§Auth Token Verification)',
    request: () => send({ path: '/api/notes', token: tamperJwtExpired(authToken()) }),
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token past exp (signed) → expired_jwt (§Auth Token Verification)',
    request: () =>
      send({ path: '/api/notes', token: authToken({ exp: nowSeconds() - 120, iat: nowSeconds() - 3600 }) }),
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token for another resource (aud) → invalid_jwt (§Auth Token Verification)',
    request: () => send({ path: '/api/notes', token: authToken({ aud: 'https://other.example' }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token without cnf → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { cnf: undefined }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token without jti → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { jti: undefined }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token without sub → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { sub: undefined }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token without dwk → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { dwk: undefined }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token with dwk aauth-agent.json → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { dwk: DWK.agent }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token lifetime over 1 h → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { exp: nowSeconds() + 7200 }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token with iat in the future → invalid_jwt (§Auth Token Verification)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', { iat: nowSeconds() + 600 }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes a resource token (typ aa-resource+jwt) in Signature-Key → invalid_jwt (§Resource Token)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-resource+jwt', {}) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token with typ JWT → invalid_jwt (§Auth Token Structure)',
    request: () => send({ path: '/api/notes', token: rawToken('JWT', {}) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token with alg EdDSA → invalid_jwt (§Algorithm Determination)',
    request: () => send({ path: '/api/notes', token: rawToken('aa-auth+jwt', {}, { alg: 'EdDSA' }) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token with alg none → invalid_jwt (§Algorithm Determination)',
    request: () => send({ path: '/api/notes', token: unsignedJwt() }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token JWT signature bit-flipped → invalid_jwt (§Auth Token Verification)',
    request: () => send({ path: '/api/notes', token: flipJwtSignature(authToken()) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token scope widened after signing → invalid_jwt (§Auth Token Verification)',
    request: () =>
      send({
        path: '/api/notes',
        token: tamperJwt(authToken({ scope: 'notes.write' }), (c) => {
          c.scope = 'notes.read notes.write';
        }),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token signed by an unpublished key → invalid_jwt (§Auth Token Verification)',
    request: () =>
      send({
        path: '/api/notes',
        token: rs.parties.ps.issue('auth', authClaims(), { clock: rs.clock, signer: makeKeyPair() }),
      }),
    expect: { status: 401, signatureError: 'unknown_key' },
  },
  {
    name: 'RS GET /api/notes auth token from an issuer with no metadata → invalid_jwt (Signature-Key §3.5)',
    request: () => send({ path: '/api/notes', token: authToken({}, rs.parties.strangerPs) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token whose cnf names another key → invalid_signature (§Proof of Possession)',
    request: () => send({ path: '/api/notes', token: authToken({ cnf: { jwk: otherKey.jwk } }) }),
    expect: { status: 401, signatureError: 'invalid_signature' },
  },
  {
    name: 'RS GET /api/notes revoked auth token → invalid_jwt (§Token Revocation)',
    request: () => send({ path: '/api/notes', token: revokedAuthToken }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/notes auth token from a PS not trusted → invalid_jwt (§Auth Token Verification)',
    request: () => send({ path: '/api/notes', token: authToken({}, rs.parties.as) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/me person token for another resource → 400 invalid_person_token (§Person Token Verification)',
    request: () => send({ path: '/api/me', token: personToken({ aud: 'https://other.example' }) }),
    expect: { status: 400, error: 'invalid_person_token' },
  },
  {
    name: 'RS GET /api/me person token expired → expired_jwt (§Person Token Verification)',
    request: () =>
      send({ path: '/api/me', token: personToken({ exp: nowSeconds() - 120, iat: nowSeconds() - 3600 }) }),
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'RS GET /api/me person token from an unknown PS → invalid_jwt (§Person Token Verification)',
    request: () => send({ path: '/api/me', token: personToken({}, rs.parties.strangerPs) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/me person token lifetime over 1 h → invalid_jwt (§Person Token Structure)',
    request: () =>
      send({
        path: '/api/me',
        token: rawToken('aa-person+jwt', { exp: nowSeconds() + 7200, scope: undefined, ps: undefined }),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/agent/whoami agent token expired → expired_jwt (§Agent Token Verification)',
    request: () =>
      send({
        path: '/api/agent/whoami',
        token: agentToken({ exp: nowSeconds() - 120, iat: nowSeconds() - 3600 }),
      }),
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'RS GET /api/agent/whoami agent token without cnf.jwk → invalid_jwt (§Agent Token Structure)',
    request: () =>
      send({
        path: '/api/agent/whoami',
        token: rawToken(
          'aa-agent+jwt',
          { cnf: {}, aud: undefined, scope: undefined, ps: undefined },
          {},
          rs.parties.ap,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/agent/whoami agent token with sub not an agent identifier → invalid_jwt (§Agent Identifiers)',
    request: () =>
      send({
        path: '/api/agent/whoami',
        token: rawToken(
          'aa-agent+jwt',
          { sub: 'not-an-agent-id', aud: undefined, scope: undefined, ps: undefined },
          {},
          rs.parties.ap,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/agent/whoami agent token with dwk aauth-person.json → invalid_jwt (§Agent Token Structure)',
    request: () =>
      send({
        path: '/api/agent/whoami',
        token: rawToken(
          'aa-agent+jwt',
          { dwk: DWK.person, aud: undefined, scope: undefined, ps: undefined, sub: AGENT_SUB },
          {},
          rs.parties.ap,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS GET /api/agent/whoami a JWT of 100 kB in Signature-Key → invalid_jwt (§Token Size)',
    request: () => send({ path: '/api/agent/whoami', token: `${'a'.repeat(100_000)}.e30.sig` }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  // §Authorization Endpoint: the request body.
  {
    name: 'RS POST /authorize body with __proto__ → 400 invalid_request (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: '{"scope":"notes.read","__proto__":{"x":1}}',
        token: personToken(),
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'RS POST /authorize body with constructor.prototype → 400 invalid_request (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: '{"scope":"notes.read","constructor":{"prototype":{"x":1}}}',
        token: personToken(),
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'RS POST /authorize duplicate scope member, last one unknown → 400 invalid_scope (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: '{"scope":"notes.read","scope":"admin.everything"}',
        token: personToken(),
      }),
    expect: { status: 400, error: 'invalid_scope' },
    mayChange: { person_token_record: 'the verified person token is recorded before the body is read' },
  },
  {
    name: 'RS POST /authorize unknown scope → 400 invalid_scope (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: { scope: 'notes.read launch.missiles' },
        token: personToken(),
      }),
    expect: { status: 400, error: 'invalid_scope' },
    mayChange: { person_token_record: 'the verified person token is recorded before the body is read' },
  },
  {
    name: 'RS POST /authorize body not JSON → 400 invalid_request (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: '{"scope":',
        token: personToken(),
        headers: { 'content-type': 'application/json' },
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'RS POST /authorize text/plain body → 400 invalid_request (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: 'scope=notes.read',
        token: personToken(),
        headers: { 'content-type': 'text/plain' },
      }),
    expect: { status: 400, error: 'invalid_request' },
    mayChange: { person_token_record: 'the verified person token is recorded before the body is read' },
  },
  {
    name: 'RS POST /authorize body over 1 MiB → 413 invalid_request (§Authorization Endpoint)',
    request: () =>
      send({
        method: 'POST',
        path: '/authorize',
        body: { scope: 'notes.read', pad: 'x'.repeat(1_100_000) },
        token: personToken(),
      }),
    expect: { status: 413, error: 'invalid_request' },
  },
  {
    name: 'RS POST /api/notes body JSON array → 400 invalid_request (§Resource Access Modes)',
    request: () => send({ method: 'POST', path: '/api/notes', body: [1, 2], token: authToken() }),
    expect: { status: 400, error: 'invalid_request' },
    mayChange: {
      auth_token_record: 'the verified auth token is recorded for revocation (§Token Revocation)',
    },
  },
  // §Token Revocation at the resource.
  {
    name: 'RS POST /revoke signed under aauth-agent.json → unsupported dwk (§Token Revocation)',
    request: () => revokeAs({ iss: 'https://ps.example', jti: 'x' }, 'ap', DWK.agent),
    expect: { status: 401, signatureError: 'invalid_key' },
  },
  {
    name: 'RS POST /revoke by another PS of a token it did not issue → 403 forbidden (§Token Revocation)',
    request: () => revokeAs({ iss: 'https://ps.example', jti: 'revoked-auth-token' }, 'ps2'),
    expect: { status: 403, error: 'forbidden' },
  },
  {
    name: 'RS POST /revoke without jti → 400 invalid_request (§Token Revocation)',
    request: () => revokeAs({ iss: 'https://ps.example' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'RS POST /revoke jti of 300 characters → 400 invalid_request (§Token Revocation)',
    request: () => revokeAs({ iss: 'https://ps.example', jti: 'j'.repeat(300) }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'RS POST /revoke replayed signature → invalid_signature (§Freshness and Replay)',
    request: async () => {
      const once = revokeAs({ iss: 'https://ps.example', jti: 'revoked-auth-token' });
      await injectForged(rs.app, RS_ISSUER, once);
      return once;
    },
    expect: { status: 401, signatureError: 'invalid_signature' },
  },
  {
    name: 'RS GET /pending/:id unknown id → 404 (§Deferred Responses)',
    request: () =>
      send({ path: '/pending/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', token: agentToken() }),
    expect: { status: 404 },
  },
];

function nowSeconds(): number {
  return Math.floor(rs.clock.now() / 1000);
}

function authClaims(): never {
  return {
    aud: RS_ISSUER,
    ps: rs.parties.ps.issuer,
    sub: 'person-alice',
    cnf: { jwk: agentKey.jwk },
    scope: 'notes.read',
  } as never;
}

/** A token signed by the issuer's real key with full control of header and claims (undefined removes). */
function rawToken(
  typ: string,
  change: Record<string, unknown>,
  header: Record<string, unknown> = {},
  issuer = rs.parties.ps,
): string {
  const now = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: issuer.issuer,
    dwk: issuer.dwk,
    aud: RS_ISSUER,
    ps: rs.parties.ps.issuer,
    sub: 'person-alice',
    jti: `raw-${Math.random().toString(36).slice(2)}`,
    cnf: { jwk: agentKey.jwk },
    scope: 'notes.read',
    iat: now,
    exp: now + 600,
  };
  for (const [name, value] of Object.entries(change)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return makeRawJwt({ typ, kid: issuer.signingKey.kid, ...header }, claims, issuer.signingKey);
}

function unsignedJwt(): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'aa-auth+jwt' })}.${encode(decodeClaims(authToken()))}.`;
}

/** `exp` moved into the past without re-signing: the JWT signature no longer verifies. */
function tamperJwtExpired(jwt: string): string {
  return tamperJwt(jwt, (claims) => {
    claims.exp = nowSeconds() - 10;
  });
}

describe('resource server — signature failures on every signed endpoint', () => {
  runNegativeCases(
    'resource/signature',
    { app: () => rs.app, issuer: RS_ISSUER, countRows: () => rs.countRows() },
    signatureCases,
  );
});

describe('resource server — tokens, bodies, revocation', () => {
  runNegativeCases(
    'resource/tokens',
    { app: () => rs.app, issuer: RS_ISSUER, countRows: () => rs.countRows() },
    tokenCases,
  );
});
