import { createHash } from 'node:crypto';
import { DEV, DWK, issueJktJwt, type KeyPair, parseAAuthRequirement } from '@aauth-ref/core';
import { makeKeyPair, makeRawJwt } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession } from '../src/browser-session.js';
import { type NegativeCase, runNegativeCases } from '../src/cases.js';
import {
  decodeClaims,
  type ForgedRequest,
  flipJwtSignature,
  forgeRequest,
  injectForged,
  tamperJwt,
} from '../src/forge.js';
import { type PersonServer, PS_ISSUER, startPersonServer } from '../src/servers.js';
import { type SignedEndpoint, signatureFailureCases } from '../src/signature-cases.js';

/**
 * The Person Server and its Agent Provider role: agent enrollment and refresh, person token, auth
 * token, pending GET/POST/DELETE, mission endpoints, sub-agent tokens and revocation.
 */

let ps: PersonServer;
const RESOURCE = 'https://resource.example';
/** A well-formed mission reference (SHA-256, base64url) of no mission here. */
const UNKNOWN_MISSION = createHash('sha256').update('no such mission').digest('base64url');

/** An agent of the stub AP, bound to alice, holding a person token for RESOURCE. */
const bound = { key: makeKeyPair(), sub: 'aauth:agent-bound@agent.example', personJti: '', personSub: '' };
/** Another agent of the same AP, never bound. */
const stranger = { key: makeKeyPair(), sub: 'aauth:agent-stranger@agent.example' };
/** An agent whose token its AP revoked at this PS. */
const revoked = { key: makeKeyPair(), sub: 'aauth:agent-revoked@agent.example', token: '' };
/** A pending request of `bound`, left open. */
let pendingPath = '';
/** An enrollment pending for `durable`. */
const durable = makeKeyPair();
let enrollPendingPath = '';
let persistentAgentToken = '';

function agentToken(
  agent: { key: KeyPair; sub: string },
  claims: Record<string, unknown> = {},
  lifetimeSeconds = 3600,
): string {
  return ps.parties.ap.issue(
    'agent',
    { sub: agent.sub, cnf: { jwk: agent.key.jwk }, ps: PS_ISSUER, ...claims } as never,
    { clock: ps.clock, lifetimeSeconds },
  );
}

function nowSeconds(): number {
  return Math.floor(ps.clock.now() / 1000);
}

function sign(options: {
  method?: string;
  path: string;
  body?: unknown;
  key?: KeyPair;
  token?: string;
  headers?: Record<string, string>;
}): ForgedRequest {
  return forgeRequest({
    method: options.method ?? 'POST',
    path: options.path,
    issuer: PS_ISSUER,
    clock: ps.clock,
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: {
      ...(typeof options.body === 'string' ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    key: options.key ?? bound.key,
    signatureKey: options.token ?? agentToken(bound),
  });
}

const hwkOf = (key: KeyPair) => {
  const { kid: _kid, ...jwk } = key.jwk;
  return { scheme: 'hwk' as const, jwk: jwk as Record<string, string> };
};

function jwksUriAs(party: 'ap' | 'resource' | 'as' | 'ps2', dwk?: string) {
  const p = ps.parties[party];
  return {
    key: p.signingKey,
    signatureKey: {
      scheme: 'jwks_uri' as const,
      id: p.issuer,
      dwk: (dwk ?? p.dwk) as never,
      kid: p.signingKey.kid,
    },
  };
}

function revokeAs(
  body: unknown,
  party: 'ap' | 'resource' | 'as' | 'ps2' = 'ap',
  dwk?: string,
): ForgedRequest {
  const signer = jwksUriAs(party, dwk);
  return forgeRequest({
    method: 'POST',
    path: '/revoke',
    issuer: PS_ISSUER,
    clock: ps.clock,
    body,
    ...signer,
  });
}

const send = (request: ForgedRequest) => injectForged(ps.app, PS_ISSUER, request);

function codeOf(header: unknown): string {
  return (parseAAuthRequirement(String(header), DEV) as { code: string }).code;
}

beforeAll(async () => {
  ps = await startPersonServer();
  // 1. `bound` gets a person token for RESOURCE after alice approves.
  const asked = await send(
    sign({ path: '/person', body: { resource: RESOURCE, capabilities: ['interaction'] } }),
  );
  expect(asked.statusCode).toBe(202);
  const browser = new BrowserSession(() => ps.app, PS_ISSUER);
  await browser.signIn('alice', 'alice-demo-password');
  expect((await browser.approveCode(codeOf(asked.headers['aauth-requirement']))).statusCode).toBe(200);
  ps.clock.advance(2000);
  const polled = await send(sign({ method: 'GET', path: new URL(String(asked.headers.location)).pathname }));
  expect(polled.statusCode).toBe(200);
  const claims = decodeClaims(polled.json().person_token);
  bound.personJti = String(claims.jti);
  bound.personSub = String(claims.sub);
  // 2. A pending request of `bound`, left open (another resource: a new consent).
  ps.clock.advance(1000);
  const open = await send(
    sign({ path: '/person', body: { resource: 'https://notes.example', capabilities: ['interaction'] } }),
  );
  expect(open.statusCode).toBe(202);
  pendingPath = new URL(String(open.headers.location)).pathname;
  // 3. `revoked`: seen once, then revoked by its AP (§Token Revocation).
  revoked.token = agentToken(revoked, { jti: 'revoked-agent-token' });
  ps.clock.advance(1000);
  await send(sign({ path: '/person', body: { resource: RESOURCE }, key: revoked.key, token: revoked.token }));
  const revocation = await send(revokeAs({ iss: ps.parties.ap.issuer, jti: 'revoked-agent-token' }));
  expect(revocation.statusCode).toBe(200);
  // 4. An enrollment pending for `durable` (hwk).
  const enroll = await send(
    forgeRequest({
      method: 'POST',
      path: '/agent/enroll',
      issuer: PS_ISSUER,
      clock: ps.clock,
      body: { name: 'CLI' },
      key: durable,
      signatureKey: hwkOf(durable),
    }),
  );
  expect(enroll.statusCode).toBe(202);
  enrollPendingPath = new URL(String(enroll.headers.location), PS_ISSUER).pathname;
  persistentAgentToken = agentToken(bound);
});
afterAll(async () => {
  await ps?.close();
});

// --- Resource tokens for POST /token ------------------------------------------------------------------

function resourceToken(
  claims: Record<string, unknown> = {},
  lifetimeSeconds = 300,
  issuer = ps.parties.resource,
): string {
  return issuer.issue(
    'resource',
    {
      aud: PS_ISSUER,
      ps: PS_ISSUER,
      sub: bound.personSub,
      presented_jti: bound.personJti,
      agent_jkt: bound.key.thumbprint,
      scope: 'read',
      ...claims,
    } as never,
    { clock: ps.clock, lifetimeSeconds },
  );
}

function rawResourceToken(change: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const now = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: ps.parties.resource.issuer,
    dwk: DWK.resource,
    aud: PS_ISSUER,
    ps: PS_ISSUER,
    sub: bound.personSub,
    presented_jti: bound.personJti,
    agent_jkt: bound.key.thumbprint,
    scope: 'read',
    jti: `rt-${Math.random().toString(36).slice(2)}`,
    iat: now,
    exp: now + 300,
  };
  for (const [name, value] of Object.entries(change)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return makeRawJwt(
    { typ: 'aa-resource+jwt', kid: ps.parties.resource.signingKey.kid, ...header },
    claims,
    ps.parties.resource.signingKey,
  );
}

/** A resource token that contradicts the person token it names is logged as a security event. */
const SECURITY_EVENT = {
  security_event: 'the mismatch is recorded as a security event (§Resource Token Verification step 6)',
};

const tokenRequest = (resource_token: string, extra: Record<string, unknown> = {}) =>
  sign({ path: '/token', body: { resource_token, ...extra } });

const resourceTokenCase = (
  what: string,
  token: () => string,
  error: string,
  section = '§Resource Token Verification',
): NegativeCase => ({
  name: `PS POST /token: resource token ${what} → 400 ${error} (${section})`,
  request: () => tokenRequest(token()),
  expect: { status: 400, error },
});

// --- The table ------------------------------------------------------------------------------------------

function endpoint(
  label: string,
  partial: Omit<SignedEndpoint, 'label' | 'issuer' | 'clock'>,
): SignedEndpoint {
  return {
    label: `PS ${label}`,
    issuer: PS_ISSUER,
    get clock() {
      return ps.clock;
    },
    ...partial,
  };
}

const agentSigner = () => ({ key: bound.key, signatureKey: persistentAgentToken || agentToken(bound) });
const JWT = /jwt/;

const signatureCases: NegativeCase[] = [
  endpoint('POST /person', {
    method: 'POST',
    path: '/person',
    body: { resource: RESOURCE },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('POST /token', {
    method: 'POST',
    path: '/token',
    body: { resource_token: 'x.y.z' },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('GET /pending/:id', {
    method: 'GET',
    path: () => pendingPath,
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: false,
  }),
  endpoint('POST /revoke', {
    method: 'POST',
    path: '/revoke',
    body: { iss: 'https://agent.example', jti: 'none' },
    signer: () => jwksUriAs('ap'),
    acceptSchemes: /jwks_uri/,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('POST /agent/enroll', {
    method: 'POST',
    path: '/agent/enroll',
    body: { name: 'CLI' },
    signer: () => ({ key: durable, signatureKey: hwkOf(durable) }),
    acceptSchemes: /hwk/,
    otherScheme: { scheme: 'jwt', jwt: 'e30.e30.e30' },
    bodyCovered: true,
  }),
  endpoint('POST /agent/token', {
    method: 'POST',
    path: '/agent/token',
    body: {},
    signer: () => {
      const ephemeral = makeKeyPair();
      return {
        key: ephemeral,
        signatureKey: {
          scheme: 'jkt-jwt',
          jwt: issueJktJwt(durable, ephemeral.jwk, { clock: ps.clock, lifetimeSeconds: 300 }),
        },
      };
    },
    acceptSchemes: /jkt-jwt/,
    otherScheme: hwkOf(durable),
    bodyCovered: true,
  }),
].flatMap(signatureFailureCases);

/** The core of the matrix on the remaining signed endpoints (the full one runs on those above). */
const CORE_FAILURES = [
  'Signature-Input missing',
  '@authority not covered',
  'created 2 minutes in the past',
  'one bit of the signature flipped',
  'signed by a key other than the presented one',
  'a scheme this endpoint does not take',
  'body changed after signing',
];
const coreSignatureCases: NegativeCase[] = [
  endpoint('POST /mission', {
    method: 'POST',
    path: '/mission',
    body: { description: 'Plan a trip' },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('POST /mission/:s256', {
    method: 'POST',
    path: `/mission/${'A'.repeat(43)}`,
    body: { action: 'update', description: 'x' },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('POST /pending/:id', {
    method: 'POST',
    path: () => pendingPath,
    body: { action: 'clarify', clarification_response: 'x' },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
  endpoint('DELETE /pending/:id', {
    method: 'DELETE',
    path: () => pendingPath,
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: false,
  }),
  endpoint('GET /agent/enroll/pending/:id', {
    method: 'GET',
    path: () => enrollPendingPath,
    signer: () => ({ key: durable, signatureKey: hwkOf(durable) }),
    acceptSchemes: /hwk/,
    otherScheme: { scheme: 'jwt', jwt: 'e30.e30.e30' },
    bodyCovered: false,
  }),
  endpoint('POST /agent/subagent-token', {
    method: 'POST',
    path: '/agent/subagent-token',
    body: { jwk: makeKeyPair().jwk },
    signer: agentSigner,
    acceptSchemes: JWT,
    otherScheme: hwkOf(bound.key),
    bodyCovered: true,
  }),
]
  .flatMap(signatureFailureCases)
  .filter((row) => CORE_FAILURES.some((what) => row.name.includes(`: ${what} →`)));

const agentTokenCases: NegativeCase[] = [
  {
    name: 'PS POST /person unsigned → 401 Signature-Error invalid_request (§Person Token Endpoint)',
    request: () =>
      ps.app.inject({
        method: 'POST',
        url: '/person',
        headers: { host: 'localhost:3001', 'content-type': 'application/json' },
        payload: { resource: RESOURCE },
      }),
    expect: { status: 401, signatureError: 'invalid_request' },
  },
  {
    name: 'PS POST /person agent token expired → expired_jwt (§Agent Token Verification)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: agentToken(bound, { exp: nowSeconds() - 120, iat: nowSeconds() - 3600 }),
      }),
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'PS POST /person agent token from an unknown Agent Provider → invalid_jwt (§Agent Token Verification)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: ps.parties.stranger.issue(
          'agent',
          { sub: 'aauth:agent-x@stranger.example', cnf: { jwk: bound.key.jwk } } as never,
          { clock: ps.clock },
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token signed by an unpublished key → unknown_key (§Agent Token Verification)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: ps.parties.ap.issue('agent', { sub: bound.sub, cnf: { jwk: bound.key.jwk } } as never, {
          clock: ps.clock,
          signer: makeKeyPair(),
        }),
      }),
    expect: { status: 401, signatureError: 'unknown_key' },
  },
  {
    name: 'PS POST /person agent token JWT signature bit-flipped → invalid_jwt (§Agent Token Verification)',
    request: () =>
      sign({ path: '/person', body: { resource: RESOURCE }, token: flipJwtSignature(agentToken(bound)) }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token sub changed after signing → invalid_jwt (§Agent Token Verification)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: tamperJwt(agentToken(bound), (c) => {
          c.sub = 'aauth:agent-other@agent.example';
        }),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token with typ aa-person+jwt → invalid_jwt (§Agent Token Structure)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: makeRawJwt(
          { typ: 'aa-person+jwt', kid: ps.parties.ap.signingKey.kid },
          {
            iss: ps.parties.ap.issuer,
            dwk: DWK.agent,
            sub: bound.sub,
            cnf: { jwk: bound.key.jwk },
            jti: 'typ-person',
            iat: nowSeconds(),
            exp: nowSeconds() + 600,
          },
          ps.parties.ap.signingKey,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token with dwk aauth-person.json → invalid_jwt (§Agent Token Structure)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: makeRawJwt(
          { typ: 'aa-agent+jwt', kid: ps.parties.ap.signingKey.kid },
          {
            iss: ps.parties.ap.issuer,
            dwk: DWK.person,
            sub: bound.sub,
            cnf: { jwk: bound.key.jwk },
            jti: 'dwk-person',
            iat: nowSeconds(),
            exp: nowSeconds() + 600,
          },
          ps.parties.ap.signingKey,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token without jti → invalid_jwt (§Agent Token Structure)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: makeRawJwt(
          { typ: 'aa-agent+jwt', kid: ps.parties.ap.signingKey.kid },
          {
            iss: ps.parties.ap.issuer,
            dwk: DWK.agent,
            sub: bound.sub,
            cnf: { jwk: bound.key.jwk },
            iat: nowSeconds(),
            exp: nowSeconds() + 600,
          },
          ps.parties.ap.signingKey,
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person agent token with cnf naming another key → invalid_signature (§Proof of Possession)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: agentToken({ key: makeKeyPair(), sub: bound.sub }),
      }),
    expect: { status: 401, signatureError: 'invalid_signature' },
  },
  {
    name: 'PS POST /person a person token in Signature-Key → invalid_jwt (§Person Token Endpoint)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: ps.parties.ps2.issue(
          'person',
          { aud: PS_ISSUER, sub: 'p', cnf: { jwk: bound.key.jwk } } as never,
          { clock: ps.clock },
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person revoked agent token → 400 invalid_agent_token (§Token Revocation)',
    request: () =>
      sign({ path: '/person', body: { resource: RESOURCE }, key: revoked.key, token: revoked.token }),
    expect: { status: 400, error: 'invalid_agent_token' },
  },
  {
    name: 'PS POST /token revoked agent token → 400 invalid_agent_token (§Token Revocation)',
    request: () =>
      sign({
        path: '/token',
        body: { resource_token: resourceToken() },
        key: revoked.key,
        token: revoked.token,
      }),
    expect: { status: 400, error: 'invalid_agent_token' },
  },
  {
    name: 'PS POST /person signed by a sub-agent → 400 invalid_agent_token (§Sub-Agent Token)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE },
        token: agentToken(
          { key: bound.key, sub: 'aauth:agent-bound+w1@agent.example' },
          { parent_agent: bound.sub },
        ),
      }),
    expect: { status: 400, error: 'invalid_agent_token' },
  },
];

const personBodyCases: NegativeCase[] = [
  {
    name: 'PS POST /person without resource → 400 invalid_request (§Person Token Endpoint)',
    request: () => sign({ path: '/person', body: {} }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person resource not a server identifier → 400 invalid_request (§Server Identifiers)',
    request: () => sign({ path: '/person', body: { resource: 'https://resource.example/path?q=1' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person resource over http → 400 invalid_request (§Server Identifiers)',
    request: () => sign({ path: '/person', body: { resource: 'http://resource.example' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person capabilities not an array → 400 invalid_request (§AAuth-Capabilities)',
    request: () => sign({ path: '/person', body: { resource: RESOURCE, capabilities: 'interaction' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person mission_s256 malformed → 400 invalid_request (§Mission)',
    request: () => sign({ path: '/person', body: { resource: RESOURCE, mission_s256: 'not-a-digest' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person unknown mission_s256 → 404 mission_not_found (§Mission Endpoint Errors)',
    request: () => sign({ path: '/person', body: { resource: RESOURCE, mission_s256: UNKNOWN_MISSION } }),
    expect: { status: 404, error: 'mission_not_found' },
  },
  {
    name: 'PS POST /person body with __proto__ → 400 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({ path: '/person', body: `{"resource":"${RESOURCE}","__proto__":{"polluted":true}}` }),
    expect: { status: 400, error: 'invalid_request' },
    after: () => {
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  },
  {
    name: 'PS POST /person body with \\u005f\\u005fproto\\u005f\\u005f escape → 400 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({
        path: '/person',
        body: `{"resource":"${RESOURCE}","\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true}}`,
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person body with constructor.prototype → 400 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({
        path: '/person',
        body: `{"resource":"${RESOURCE}","constructor":{"prototype":{"polluted":true}}}`,
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person duplicate resource member, the last one invalid → 400 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({ path: '/person', body: `{"resource":"${RESOURCE}","resource":"javascript:alert(1)"}` }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person body not JSON → 400 invalid_request (§Person Token Endpoint)',
    request: () => sign({ path: '/person', body: '{"resource":' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person empty JSON body → 400 invalid_request (§Person Token Endpoint)',
    request: () => sign({ path: '/person', body: ' ' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person JSON array body → 400 invalid_request (§Person Token Endpoint)',
    request: () => sign({ path: '/person', body: [RESOURCE] }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person XML body → 400 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({
        path: '/person',
        body: `<resource>${RESOURCE}</resource>`,
        headers: { 'content-type': 'application/xml' },
      }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person body over 1 MiB → 413 invalid_request (§Person Token Endpoint)',
    request: () =>
      sign({ path: '/person', body: { resource: RESOURCE, justification: 'x'.repeat(1_100_000) } }),
    expect: { status: 413, error: 'invalid_request' },
  },
  {
    name: 'PS POST /token device of 65 characters → 400 invalid_request (§Auth Token Request)',
    request: () => tokenRequest(resourceToken(), { device: 'd'.repeat(65) }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /token platform not registered → 400 invalid_request (§Platform Values)',
    request: () => tokenRequest(resourceToken(), { platform: 'toaster' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /token prompt=none with another value → 400 invalid_request (§Auth Token Request)',
    request: () => tokenRequest(resourceToken(), { prompt: 'none consent' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /person a Signature-Key JWT of 100 kB → invalid_jwt (§Token Size)',
    request: () =>
      sign({ path: '/person', body: { resource: RESOURCE }, token: `${'a'.repeat(100_000)}.e30.sig` }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /person by an agent with no person binding and prompt=none → 403 user_unreachable (§Person Token Endpoint)',
    request: () =>
      sign({
        path: '/person',
        body: { resource: RESOURCE, prompt: 'none' },
        key: stranger.key,
        token: agentToken(stranger),
      }),
    expect: { status: 403, error: 'user_unreachable' },
  },
];

const tokenCases: NegativeCase[] = [
  {
    name: 'PS POST /token without resource_token → 400 invalid_request (§Auth Token Request)',
    request: () => sign({ path: '/token', body: {} }),
    expect: { status: 400, error: 'invalid_request' },
  },
  resourceTokenCase('not a JWT', () => 'not-a-jwt', 'invalid_resource_token'),
  resourceTokenCase(
    'signature bit-flipped',
    () => flipJwtSignature(resourceToken()),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'scope widened after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.scope = 'read write admin';
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'sub changed after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.sub = 'someone-else';
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'agent_jkt changed after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.agent_jkt = stranger.key.thumbprint;
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'aud changed after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.aud = 'https://as.example';
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'presented_jti changed after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.presented_jti = 'guessed';
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'exp extended after signing',
    () =>
      tamperJwt(resourceToken(), (c) => {
        c.exp = Number(c.exp) + 3600;
      }),
    'invalid_resource_token',
  ),
  {
    ...resourceTokenCase(
      'naming another PS (ps)',
      () => resourceToken({ ps: 'https://ps2.example' }),
      'invalid_resource_token',
    ),
    mayChange: SECURITY_EVENT,
  },
  resourceTokenCase(
    'bound to another agent key (agent_jkt)',
    () => resourceToken({ agent_jkt: stranger.key.thumbprint }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'naming an unknown person token (presented_jti)',
    () => resourceToken({ presented_jti: 'never-issued' }),
    'unknown_person_token',
  ),
  {
    ...resourceTokenCase(
      'for another subject (sub)',
      () => resourceToken({ sub: 'someone-else' }),
      'invalid_resource_token',
    ),
    mayChange: SECURITY_EVENT,
  },
  resourceTokenCase(
    'expired',
    () => rawResourceToken({ iat: nowSeconds() - 900, exp: nowSeconds() - 600 }),
    'expired_resource_token',
  ),
  resourceTokenCase(
    'with iat in the future',
    () => rawResourceToken({ iat: nowSeconds() + 900, exp: nowSeconds() + 1200 }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'without jti',
    () => rawResourceToken({ jti: undefined }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'without agent_jkt',
    () => rawResourceToken({ agent_jkt: undefined }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'without presented_jti',
    () => rawResourceToken({ presented_jti: undefined }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'without dwk',
    () => rawResourceToken({ dwk: undefined }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'with dwk aauth-agent.json',
    () => rawResourceToken({ dwk: DWK.agent }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'with typ aa-auth+jwt',
    () => rawResourceToken({}, { typ: 'aa-auth+jwt' }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
  resourceTokenCase(
    'with alg EdDSA',
    () => rawResourceToken({}, { alg: 'EdDSA' }),
    'invalid_resource_token',
    '§Algorithm Determination',
  ),
  resourceTokenCase(
    'from an unknown resource',
    () => resourceToken({}, 300, ps.parties.stranger as never),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'signed by an unpublished key',
    () =>
      ps.parties.resource.issue('resource', decodeClaims(resourceToken()) as never, {
        clock: ps.clock,
        signer: makeKeyPair(),
      }),
    'invalid_resource_token',
  ),
  resourceTokenCase(
    'issued under aauth-access.json',
    () => resourceToken({}, 300, ps.parties.as as never),
    'invalid_resource_token',
  ),
  {
    name: 'PS POST /token resource token presented by a stranger agent → 400 invalid_resource_token (§Resource Token Verification)',
    request: () =>
      sign({
        path: '/token',
        body: { resource_token: resourceToken() },
        key: stranger.key,
        token: agentToken(stranger),
      }),
    expect: { status: 400, error: 'invalid_resource_token' },
  },
  {
    name: 'PS POST /token upstream_token not a JWT → 400 invalid_request (§Call Chaining)',
    request: () => tokenRequest(resourceToken(), { upstream_token: 'garbage' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /token resource token with a mission_s256 its person token lacks → 400 invalid_resource_token (§Resource Token Verification)',
    request: () => tokenRequest(resourceToken({ mission_s256: UNKNOWN_MISSION })),
    expect: { status: 400, error: 'invalid_resource_token' },
    mayChange: SECURITY_EVENT,
  },
  {
    name: 'PS POST /token resource_token not a string → 400 invalid_request (§Auth Token Request)',
    request: () => sign({ path: '/token', body: { resource_token: { jwt: 'x' } } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /token body with __proto__ → 400 invalid_request (§Auth Token Request)',
    request: () => sign({ path: '/token', body: '{"__proto__":{"resource_token":"x"}}' }),
    expect: { status: 400, error: 'invalid_request' },
  },
];

const pendingCases: NegativeCase[] = [
  {
    name: 'PS GET /pending/:id polled by another agent → 404 not_found (§Pending URL Security)',
    request: () => sign({ method: 'GET', path: pendingPath, key: stranger.key, token: agentToken(stranger) }),
    expect: { status: 404, error: 'not_found' },
  },
  {
    name: 'PS DELETE /pending/:id by another agent → 404, the request stays pending (§Pending URL Security)',
    request: () =>
      sign({ method: 'DELETE', path: pendingPath, key: stranger.key, token: agentToken(stranger) }),
    expect: { status: 404, error: 'not_found' },
    after: async () => {
      ps.clock.advance(3000);
      const owner = await send(sign({ method: 'GET', path: pendingPath }));
      expect(owner.statusCode).toBe(202);
    },
  },
  {
    name: 'PS POST /pending/:id by another agent → 404 (§Pending URL Security)',
    request: () =>
      sign({
        path: pendingPath,
        body: { action: 'clarify', clarification_response: 'x' },
        key: stranger.key,
        token: agentToken(stranger),
      }),
    expect: { status: 404, error: 'not_found' },
  },
  {
    name: 'PS GET /pending/:id guessed id → 404 (§Pending URL Security)',
    request: () => sign({ method: 'GET', path: `/pending/${'A'.repeat(43)}` }),
    expect: { status: 404, error: 'not_found' },
  },
  {
    name: 'PS GET /pending/:id of 2 kB → 414 invalid_request problem+json (§Pending URL Security)',
    request: () => sign({ method: 'GET', path: `/pending/${'A'.repeat(2048)}` }),
    expect: {
      status: 414,
      error: 'invalid_request',
      headers: { 'content-type': /^application\/problem\+json/ },
    },
    after: (response) => {
      expect(response.body).not.toContain('AAAAAAAAAA');
    },
  },
  {
    name: 'PS GET /pending/:id malformed percent-encoding → 400 invalid_request problem+json (§Pending URL Security)',
    request: () => sign({ method: 'GET', path: '/pending/%E0%A4%A' }),
    expect: {
      status: 400,
      error: 'invalid_request',
      headers: { 'content-type': /^application\/problem\+json/ },
    },
  },
  {
    name: 'PS POST /pending/:id body without action → 400 invalid_request (§Agent Response to Clarification)',
    request: () => sign({ path: pendingPath, body: { clarification_response: 'x' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS GET /agent/enroll/pending/:id polled by another durable key → 404 (§Pending URL Security)',
    request: () => {
      const other = makeKeyPair();
      return forgeRequest({
        method: 'GET',
        path: enrollPendingPath,
        issuer: PS_ISSUER,
        clock: ps.clock,
        key: other,
        signatureKey: hwkOf(other),
      });
    },
    expect: { status: 404, error: 'not_found' },
  },
  {
    name: 'PS DELETE /agent/enroll/pending/:id by another durable key → 404 (§Pending URL Security)',
    request: () => {
      const other = makeKeyPair();
      return forgeRequest({
        method: 'DELETE',
        path: enrollPendingPath,
        issuer: PS_ISSUER,
        clock: ps.clock,
        key: other,
        signatureKey: hwkOf(other),
      });
    },
    expect: { status: 404, error: 'not_found' },
  },
  {
    name: 'PS GET /interaction with a guessed code → 410 invalid_code page (§Interaction Codes)',
    request: async () => {
      const browser = new BrowserSession(() => ps.app, PS_ISSUER);
      await browser.signIn('bob', 'bob-demo-password');
      return browser.get('/interaction?code=ZZZZ-ZZZZ');
    },
    expect: { status: 410, headers: { 'content-type': /^text\/html/ } },
    mayChange: { web_session: 'the person signed in to enter the code' },
    after: async () => {
      ps.clock.advance(3000);
      expect((await send(sign({ method: 'GET', path: pendingPath }))).statusCode).toBe(202);
    },
  },
];

const missionCases: NegativeCase[] = [
  {
    name: 'PS POST /mission/:s256 malformed s256 → 400 invalid_request (§Mission Endpoint Errors)',
    request: () => sign({ path: '/mission/not-a-digest', body: { action: 'update', description: 'x' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /mission/:s256 unknown mission → 404 mission_not_found (§Mission Endpoint Errors)',
    request: () =>
      sign({ path: `/mission/${UNKNOWN_MISSION}`, body: { action: 'update', description: 'x' } }),
    expect: { status: 404, error: 'mission_not_found' },
  },
  {
    name: 'PS POST /mission/:s256 unknown action → 400 invalid_request (§Mission Endpoint Errors)',
    request: () => sign({ path: `/mission/${UNKNOWN_MISSION}`, body: { action: 'explode' } }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /mission without description → 400 invalid_request (§Mission Creation)',
    request: () => sign({ path: '/mission', body: {} }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /mission description not a string → 400 invalid_request (§Mission Creation)',
    request: () => sign({ path: '/mission', body: { description: 42 } }),
    expect: { status: 400, error: 'invalid_request' },
  },
];

const revocationCases: NegativeCase[] = [
  {
    name: 'PS POST /revoke by an AP of a token another issuer minted → 403 forbidden (§Token Revocation)',
    request: () => revokeAs({ iss: PS_ISSUER, jti: bound.personJti }),
    expect: { status: 403, error: 'forbidden' },
  },
  {
    name: 'PS POST /revoke without jti → 400 invalid_request (§Token Revocation)',
    request: () => revokeAs({ iss: ps.parties.ap.issuer }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /revoke jti of 300 characters → 400 invalid_request (§Token Revocation)',
    request: () => revokeAs({ iss: ps.parties.ap.issuer, jti: 'j'.repeat(300) }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /revoke jwks_uri signer naming an unknown issuer → error, nothing revoked (§Token Revocation)',
    request: () =>
      forgeRequest({
        method: 'POST',
        path: '/revoke',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { iss: ps.parties.ap.issuer, jti: 'x' },
        key: ps.parties.stranger.signingKey,
        signatureKey: {
          scheme: 'jwks_uri',
          id: ps.parties.stranger.issuer,
          dwk: DWK.agent,
          kid: ps.parties.stranger.signingKey.kid,
        },
      }),
    expect: { status: 401, signatureError: 'invalid_key' },
  },
  {
    name: 'PS POST /revoke jwks_uri kid not in the JWKS → unknown_key (§Token Revocation)',
    request: () =>
      forgeRequest({
        method: 'POST',
        path: '/revoke',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { iss: ps.parties.ap.issuer, jti: 'x' },
        key: ps.parties.ap.signingKey,
        signatureKey: { scheme: 'jwks_uri', id: ps.parties.ap.issuer, dwk: DWK.agent, kid: 'no-such-kid' },
      }),
    expect: { status: 401, signatureError: 'unknown_key' },
  },
  {
    name: 'PS POST /revoke replayed → invalid_signature (§Freshness and Replay)',
    request: async () => {
      const once = revokeAs({ iss: ps.parties.ap.issuer, jti: 'revoked-agent-token' });
      await send(once);
      return once;
    },
    expect: { status: 401, signatureError: 'invalid_signature' },
  },
];

const enrollmentCases: NegativeCase[] = [
  {
    name: 'PS POST /agent/enroll body a JSON string → 400 invalid_request (§Agent Enrollment)',
    request: () => {
      const key = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/enroll',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: '"hello"',
        headers: { 'content-type': 'application/json' },
        key,
        signatureKey: hwkOf(key),
      });
    },
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'PS POST /agent/enroll hwk with kty RSA → unsupported_algorithm (Signature-Key §3.1)',
    request: () => {
      const key = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/enroll',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { name: 'x' },
        key,
        signatureKey: { raw: 'hwk;kty="RSA";n="AQAB";e="AQAB"' },
      });
    },
    expect: {
      status: 401,
      signatureError: 'unsupported_algorithm',
      headers: { 'accept-signature-alg': /Ed25519/ },
    },
  },
  {
    name: 'PS POST /agent/enroll hwk OKP without x and alg → unsupported_algorithm (Signature-Key §3.1, §Algorithm Determination)',
    request: () => {
      const key = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/enroll',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { name: 'x' },
        key,
        signatureKey: { raw: 'hwk;kty="OKP";crv="Ed25519"' },
      });
    },
    expect: { status: 401, signatureError: 'unsupported_algorithm' },
  },
  {
    name: 'PS POST /agent/enroll hwk OKP with alg but without x → invalid_key (Signature-Key §3.1)',
    request: () => {
      const key = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/enroll',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { name: 'x' },
        key,
        signatureKey: { raw: 'hwk;kty="OKP";crv="Ed25519";alg="Ed25519"' },
      });
    },
    expect: { status: 401, signatureError: 'invalid_key' },
  },
  {
    name: 'PS POST /agent/token jkt-jwt of a durable key never enrolled → unknown_key (§Agent Token Refresh)',
    request: () => {
      const never = makeKeyPair();
      const ephemeral = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/token',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: {},
        key: ephemeral,
        signatureKey: {
          scheme: 'jkt-jwt',
          jwt: issueJktJwt(never, ephemeral.jwk, { clock: ps.clock, lifetimeSeconds: 300 }),
        },
      });
    },
    expect: { status: 401, signatureError: 'unknown_key' },
  },
  {
    name: 'PS POST /agent/token jkt-jwt signed by another key than its iss names → invalid_jwt (Signature-Key §3.5)',
    request: () => {
      const ephemeral = makeKeyPair();
      const jwt = issueJktJwt(durable, ephemeral.jwk, { clock: ps.clock, lifetimeSeconds: 300 });
      return forgeRequest({
        method: 'POST',
        path: '/agent/token',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: {},
        key: ephemeral,
        signatureKey: { scheme: 'jkt-jwt', jwt: flipJwtSignature(jwt) },
      });
    },
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'PS POST /agent/token jkt-jwt expired → expired_jwt (Signature-Key §3.5)',
    request: () => {
      const ephemeral = makeKeyPair();
      const past = { now: () => ps.clock.now() - 3_600_000 };
      const jwt = issueJktJwt(durable, ephemeral.jwk, { clock: past, lifetimeSeconds: 300 });
      return forgeRequest({
        method: 'POST',
        path: '/agent/token',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: {},
        key: ephemeral,
        signatureKey: { scheme: 'jkt-jwt', jwt },
      });
    },
    expect: { status: 401, signatureError: 'expired_jwt' },
  },
  {
    name: 'PS POST /agent/subagent-token by an agent of another Agent Provider → 403 forbidden (§Sub-Agent Token)',
    request: () => sign({ path: '/agent/subagent-token', body: { jwk: makeKeyPair().jwk } }),
    expect: { status: 403, error: 'forbidden' },
  },
];

/** Resource tokens the PS must refuse; these rows were found failing by this suite (docs/reliability.md). */
const RESOURCE_TOKEN_LIMIT_CASES: NegativeCase[] = [
  // An `aud` publishing no AS metadata was once a 500 (federation-client.ts `start`).
  resourceTokenCase(
    'for a server that is neither this PS nor an AS (aud)',
    () => resourceToken({ aud: 'https://ps2.example' }),
    'invalid_resource_token',
  ),
  // RESOURCE_TOKEN_MAX_LIFETIME_SECONDS (default 300): a 24 h token was once accepted.
  resourceTokenCase(
    'with a lifetime of 24 h, beyond the PS maximum',
    () => rawResourceToken({ exp: nowSeconds() + 86_400 }),
    'invalid_resource_token',
    '§Resource Token Structure',
  ),
];

const target = {
  app: () => ps.app,
  issuer: PS_ISSUER,
  countRows: () => ps.countRows(),
};

describe('person server — signature failures on every signed endpoint', () => {
  runNegativeCases('person/signature', target, [...signatureCases, ...coreSignatureCases]);
});

describe('person server — agent tokens in Signature-Key', () => {
  runNegativeCases('person/agent-token', target, agentTokenCases);
});

describe('person server — person token requests', () => {
  runNegativeCases('person/person-token', target, personBodyCases);
});

describe('person server — auth token requests and resource tokens', () => {
  runNegativeCases('person/auth-token', target, tokenCases);
});

describe('person server — pending URLs and interaction codes', () => {
  runNegativeCases('person/pending', target, pendingCases);
});

describe('person server — missions', () => {
  runNegativeCases('person/mission', target, missionCases);
});

describe('person server — revocation', () => {
  runNegativeCases('person/revocation', target, revocationCases);
});

describe('person server — enrollment, refresh, sub-agents', () => {
  runNegativeCases('person/enrollment', target, enrollmentCases);
});

describe('person server — resource tokens it cannot use (once known failures, docs/reliability.md)', () => {
  runNegativeCases('person/resource-token-limits', target, RESOURCE_TOKEN_LIMIT_CASES);
});

describe('person server — token lifetimes are capped on issuance (§Person Token Structure, §Auth Token Structure)', () => {
  it('a person token never outlives the presenting agent token nor 1 h (§Person Token Structure)', async () => {
    const shortLived = agentToken(bound, {}, 600);
    ps.clock.advance(1000);
    const res = await send(sign({ path: '/person', body: { resource: RESOURCE }, token: shortLived }));
    expect(res.statusCode).toBe(200);
    const claims = decodeClaims(res.json().person_token);
    expect(Number(claims.exp)).toBeLessThanOrEqual(Number(decodeClaims(shortLived).exp));
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
  });

  it('an agent token of another AP living 48 h is accepted (§Agent Token Structure: a SHOULD, logged)', async () => {
    const now = nowSeconds();
    const longLived = makeRawJwt(
      { typ: 'aa-agent+jwt', kid: ps.parties.ap.signingKey.kid },
      {
        iss: ps.parties.ap.issuer,
        dwk: DWK.agent,
        sub: bound.sub,
        cnf: { jwk: bound.key.jwk },
        ps: PS_ISSUER,
        jti: 'long-lived',
        iat: now,
        exp: now + 48 * 3600,
      },
      ps.parties.ap.signingKey,
    );
    ps.clock.advance(1000);
    const res = await send(sign({ path: '/person', body: { resource: RESOURCE }, token: longLived }));
    expect(res.statusCode).toBe(200);
    const claims = decodeClaims(res.json().person_token);
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
  });
});
