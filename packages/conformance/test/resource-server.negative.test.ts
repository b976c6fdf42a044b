import { computeR3S256, DWK, type KeyPair, R3_VOCABULARY_MCP, R3_VOCABULARY_OPENAPI } from '@aauth-ref/core';
import { makeKeyPair, makeRawJwt } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type NegativeCase, runNegativeCases } from '../src/cases.js';
import { decodeClaims, flipJwtSignature, forgeRequest, injectForged, tamperJwt } from '../src/forge.js';
import { RS_ISSUER, type RunningServer, startResourceServer } from '../src/servers.js';
import { type SignedEndpoint, signatureFailureCases } from '../src/signature-cases.js';

/**
 * The demo resource (§Resource Access Modes, §Resource Token, §Token Revocation): every endpoint per
 * access mode — agent-token (`/api/agent/whoami`), person-token (`/api/me`, `/authorize`),
 * auth-token (`/api/notes`) — plus its pending URL and `revocation_endpoint`; and R3
 * (draft-hardt-aauth-r3): `/r3/{s256}` fetched by parties not entitled, grants enforced on the MCP
 * endpoint and `/api/whoami`, per-call tokens bound to their call, every MCP challenge a `401`.
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
  await setUpR3();
}

// --- R3 (draft-hardt-aauth-r3) ------------------------------------------------------------------------

/**
 * The R3 rows' agent key: its person token is recorded here in set-up, which must not turn the agent
 * key's "agent token → person-token" rows into auth-token challenges.
 */
const r3Key: KeyPair = makeKeyPair();
const r3Cnf = { cnf: { jwk: r3Key.jwk } };

const MCP_HEADERS = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
let mcpId = 1;

/** A signed MCP `tools/call` (each with its own JSON-RPC id, so no two signatures are the same). */
function mcpCall(tool: string, args: Record<string, unknown>, token: string) {
  return send({
    method: 'POST',
    path: '/mcp',
    body: { jsonrpc: '2.0', id: mcpId++, method: 'tools/call', params: { name: tool, arguments: args } },
    headers: MCP_HEADERS,
    token,
    key: r3Key,
  });
}

/** `r3_uri`/`r3_s256` of the resource token in a `401 requirement=auth-token`. */
function r3Of(response: { statusCode: number; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(401);
  const token = /resource-token="([^"]+)"/.exec(String(response.headers['aauth-requirement']))?.[1];
  const claims = decodeClaims(token ?? '');
  return { r3_uri: String(claims.r3_uri), r3_s256: String(claims.r3_s256) };
}

/** An auth token carrying R3 claims and no scope (R3 §Auth Token Extensions). */
function r3Token(r3: { r3_uri: string; r3_s256: string }, granted: Record<string, unknown>): string {
  return authToken({ scope: undefined, ...r3Cnf, ...r3, r3_granted: granted });
}

/** The listNotes class document (OpenAPI), named by the resource token of a `GET /api/notes` challenge. */
let classR3 = { r3_uri: '', r3_s256: '' };
/** A per-call auth token that already ran `delete_note` on `r3NoteId` (§Per-Call Proposals). */
let perCallToken = '';
/** R3 tokens whose grant lacks the operation called; presented once in set-up (see the rows). */
let mcpCreateOnlyToken = '';
let whoamiCreateOnlyToken = '';

async function setUpR3(): Promise<void> {
  const inject = (request: ReturnType<typeof send>) => injectForged(rs.app, RS_ISSUER, request);
  const pt = personToken(r3Cnf);
  classR3 = r3Of(await inject(send({ path: '/api/notes', token: pt, key: r3Key })));
  const target = await inject(
    send({
      method: 'POST',
      path: '/api/notes',
      body: { text: 'r3 target' },
      token: authToken(r3Cnf),
      key: r3Key,
    }),
  );
  expect(target.statusCode).toBe(201);
  const r3NoteId = String(target.json().note.id);
  const proposal = r3Of(await inject(mcpCall('delete_note', { id: r3NoteId }, pt)));
  perCallToken = r3Token(proposal, { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'delete_note' }] });
  const ran = await inject(mcpCall('delete_note', { id: r3NoteId }, perCallToken));
  expect(ran.json().result.structuredContent).toEqual({ deleted: r3NoteId });
  // The step-up documents are content-addressed: built here once, a repeat stores nothing new, so the
  // rows below change no table (the tokens are recorded here too).
  mcpCreateOnlyToken = r3Token(classR3, {
    vocabulary: R3_VOCABULARY_MCP,
    operations: [{ tool: 'create_note' }],
  });
  expect((await inject(mcpCall('list_notes', {}, mcpCreateOnlyToken))).statusCode).toBe(401);
  whoamiCreateOnlyToken = r3Token(classR3, {
    vocabulary: R3_VOCABULARY_OPENAPI,
    operations: [{ operationId: 'createNote' }],
  });
  expect(
    (await inject(send({ path: '/api/whoami', token: whoamiCreateOnlyToken, key: r3Key }))).statusCode,
  ).toBe(401);
}

/** A `jwks_uri`-signed fetch of an R3 document by one of the stub servers. */
function fetchR3As(s256: string, party: 'ps' | 'ps2' | 'as', dwk: string = DWK.person) {
  const signer = rs.parties[party];
  return forgeRequest({
    method: 'GET',
    path: `/r3/${s256}`,
    issuer: RS_ISSUER,
    clock: clock(),
    key: signer.signingKey,
    signatureKey: { scheme: 'jwks_uri', id: signer.issuer, dwk: dwk as never, kid: signer.signingKey.kid },
  });
}

const NO_SIGNATURE_CHALLENGE = { 'signature-error': null, 'accept-signature-scheme': null };

const r3Cases: NegativeCase[] = [
  // §R3 Document Access Restriction: only the AS in `aud` and the PS in `ps` of a resource token naming it.
  {
    name: 'RS GET /r3/{s256} unsigned → 401 Signature-Error invalid_request (§R3 Document Access Restriction)',
    request: () =>
      rs.app.inject({ method: 'GET', url: `/r3/${classR3.r3_s256}`, headers: { host: 'localhost:3003' } }),
    expect: { status: 401, signatureError: 'invalid_request', headers: { 'aauth-requirement': null } },
  },
  {
    name: 'RS GET /r3/{s256} signed by an agent with its agent token (jwt) → unsupported_scheme (§R3 Document: agents cannot fetch R3 documents)',
    request: () => send({ path: `/r3/${classR3.r3_s256}`, token: agentToken() }),
    expect: {
      status: 401,
      signatureError: 'unsupported_scheme',
      headers: { 'accept-signature-scheme': /jwks_uri/, 'aauth-requirement': null },
    },
  },
  {
    name: 'RS GET /r3/{s256} signed by a PS no resource token named → 403 forbidden (§R3 Document Access Restriction)',
    request: () => fetchR3As(classR3.r3_s256, 'ps2'),
    expect: { status: 403, error: 'forbidden', headers: NO_SIGNATURE_CHALLENGE },
  },
  {
    name: 'RS GET /r3/{s256} signed by an AS that is not the aud of any token naming it → 403 forbidden (§R3 Document Access Restriction)',
    request: () => fetchR3As(classR3.r3_s256, 'as', DWK.access),
    expect: { status: 403, error: 'forbidden' },
  },
  {
    name: 'RS GET /r3/{s256} unknown hash, signed by an entitled PS → 404 not_found (§Content Addressing)',
    request: () => fetchR3As(computeR3S256('no such document'), 'ps'),
    expect: { status: 404, error: 'not_found', headers: NO_SIGNATURE_CHALLENGE },
  },
  // §Grant Enforcement: a call matching no granted operation is not served (a step-up challenge).
  {
    name: 'RS POST /mcp list_notes with r3_granted naming only create_note → 401 requirement=auth-token (§Grant Enforcement)',
    request: () => mcpCall('list_notes', {}, mcpCreateOnlyToken),
    expect: {
      status: 401,
      requirement: 'auth-token',
      headers: { 'aauth-requirement': /resource-token="/, ...NO_SIGNATURE_CHALLENGE },
    },
  },
  {
    name: 'RS GET /api/whoami with r3_granted naming only createNote → 401 requirement=auth-token (§Grant Enforcement)',
    request: () => send({ path: '/api/whoami', token: whoamiCreateOnlyToken, key: r3Key }),
    expect: {
      status: 401,
      requirement: 'auth-token',
      headers: { 'aauth-requirement': /resource-token="/, ...NO_SIGNATURE_CHALLENGE },
    },
  },
  // §Per-Call Proposals, Flow step 3: the approval binds the parameters.
  {
    name: 'RS POST /mcp per-call auth token replayed with another note id → 403 forbidden, nothing runs (§Per-Call Proposals)',
    request: () => mcpCall('delete_note', { id: noteId }, perCallToken),
    expect: { status: 403, error: 'forbidden', headers: NO_SIGNATURE_CHALLENGE },
  },
  {
    name: 'RS POST /mcp per-call auth token with an extra argument → 403 forbidden (§Per-Call Proposals)',
    request: () => mcpCall('delete_note', { id: noteId, force: true }, perCallToken),
    expect: { status: 403, error: 'forbidden', headers: NO_SIGNATURE_CHALLENGE },
  },
  // §Auth Token Extensions: the R3 claims are covered by the token's signature.
  {
    name: 'RS GET /api/notes auth token with r3_s256 changed after signing → invalid_jwt (§Hash Verification)',
    request: () =>
      send({
        path: '/api/notes',
        token: tamperJwt(
          r3Token(classR3, { vocabulary: R3_VOCABULARY_OPENAPI, operations: [{ operationId: 'listNotes' }] }),
          (claims) => {
            claims.r3_s256 = computeR3S256('another document');
          },
        ),
      }),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  {
    name: 'RS POST /mcp auth token with r3_granted widened after signing → invalid_jwt (§Grant Enforcement)',
    request: () =>
      mcpCall(
        'list_notes',
        {},
        tamperJwt(mcpCreateOnlyToken, (claims) => {
          claims.r3_granted = { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'list_notes' }] };
        }),
      ),
    expect: { status: 401, signatureError: 'invalid_jwt' },
  },
  // The MCP endpoint: every AAuth challenge is a 401 (its transport reads a 202 as "accepted, no body").
  {
    name: 'RS POST /mcp unsigned tools/call → 401 requirement=agent-token, not 202 (§Resource Access Modes)',
    request: () =>
      rs.app.inject({
        method: 'POST',
        url: '/mcp',
        headers: { host: 'localhost:3003', 'content-type': 'application/json', ...MCP_HEADERS },
        payload: {
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'list_notes', arguments: {} },
        },
      }),
    expect: { status: 401, requirement: 'agent-token', headers: { location: null } },
  },
  {
    name: 'RS POST /mcp unsigned notification → 401 requirement=agent-token, not the transport 202 (§Resource Access Modes)',
    request: () =>
      rs.app.inject({
        method: 'POST',
        url: '/mcp',
        headers: { host: 'localhost:3003', 'content-type': 'application/json', ...MCP_HEADERS },
        payload: { jsonrpc: '2.0', method: 'notifications/initialized' },
      }),
    expect: { status: 401, requirement: 'agent-token', headers: { location: null } },
  },
  {
    name: 'RS POST /mcp delete_note with a person token → 401 requirement=auth-token with a proposal, never 202 (§Per-Call Proposals)',
    request: () => mcpCall('delete_note', { id: noteId }, personToken(r3Cnf)),
    expect: {
      status: 401,
      requirement: 'auth-token',
      headers: { 'aauth-requirement': /resource-token="/, location: null, 'retry-after': null },
    },
    mayChange: {
      r3_document: 'the challenge stores its per-call proposal, unique per call (§Per-Call Proposals step 1)',
      r3_document_reader: 'the PS named by the resource token may fetch that proposal',
      person_token_record: 'a person token with a fresh jti is recorded (§Person Token Verification)',
    },
  },
];

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

describe('resource server — R3 documents, grants, per-call proposals, MCP challenges', () => {
  runNegativeCases(
    'resource/r3',
    { app: () => rs.app, issuer: RS_ISSUER, countRows: () => rs.countRows() },
    r3Cases,
  );
});

describe('resource server — tokens, bodies, revocation', () => {
  runNegativeCases(
    'resource/tokens',
    { app: () => rs.app, issuer: RS_ISSUER, countRows: () => rs.countRows() },
    tokenCases,
  );
});
