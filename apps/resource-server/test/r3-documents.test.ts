import { computeR3S256, DWK, type KeyPair, R3Error, verifyR3Document } from '@aauth-ref/core';
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
import { fetchR3, MCP, OPENAPI } from './support/r3.js';

/**
 * R3 documents at the demo resource: the authorization endpoint's `r3_operations`, content-addressed
 * documents, and who may fetch them (draft-hardt-aauth-r3).
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function authorize(app: TestApp, body: Record<string, unknown>) {
  const agent = newAgent(app);
  const response = await send(app, {
    method: 'POST',
    path: '/authorize',
    key: agent.key,
    signatureKey: personToken(app, agent.key),
    body,
  });
  return { agent, response };
}

describe('R3 §Resource Metadata Extensions, §OpenAPI Vocabulary', () => {
  it('serves an OpenAPI document with operationIds and x-aauth-access-mode annotations', async () => {
    const response = await sendUnsigned(t, { path: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const doc = response.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/api/notes'].get).toMatchObject({
      operationId: 'listNotes',
      'x-aauth-access-mode': 'auth-token',
    });
    expect(doc.paths['/api/notes'].post).toMatchObject({
      operationId: 'createNote',
      'x-aauth-access-mode': 'auth-token',
    });
    // §Vocabulary Encodings: the destructive operation is approved per call.
    expect(doc.paths['/api/notes/{id}'].delete).toMatchObject({
      operationId: 'deleteNote',
      'x-aauth-access-mode': 'per-call',
    });
  });
});

describe('R3 §Authorization Endpoint Extensions', () => {
  it('r3_operations → a resource token with r3_uri/r3_s256 of one composed document', async () => {
    const { response } = await authorize(t, {
      r3_operations: { vocabulary: MCP, operations: [{ tool: 'create_note' }, { tool: 'list_notes' }] },
    });
    expect(response.statusCode).toBe(200);
    const claims = decodePayload(response.json().resource_token);
    expect(claims.r3_s256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims.r3_uri).toBe(`${ISSUER}/r3/${claims.r3_s256}`);
    // Both MAY be present (§Resource Token Extensions); the scopes of the operations go with them.
    expect(claims.scope).toBe('notes.write notes.read');
    const fetched = await fetchR3(t, t.ps, claims.r3_uri as string);
    expect(fetched.statusCode).toBe(200);
    expect(fetched.headers['content-type']).toMatch(/^application\/json/);
    // §Content Addressing: the bytes served hash to r3_s256.
    expect(computeR3S256(fetched.rawPayload)).toBe(claims.r3_s256);
    const { document } = verifyR3Document(fetched.rawPayload, claims.r3_s256 as string);
    expect(document).toMatchObject({
      vocabulary: MCP,
      operations: [{ tool: 'create_note' }, { tool: 'list_notes' }],
      display: { summary: expect.stringContaining('Add notes') },
    });
  });

  it('the same combination reduces to the same document (content-addressed reuse)', async () => {
    const body = { r3_operations: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] } };
    const first = decodePayload((await authorize(t, body)).response.json().resource_token);
    const second = decodePayload((await authorize(t, body)).response.json().resource_token);
    expect(first.r3_s256).toBe(second.r3_s256);
  });

  it('account is carried into the document (§R3 Document `account`)', async () => {
    const { response } = await authorize(t, {
      account: 'work',
      r3_operations: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    const claims = decodePayload(response.json().resource_token);
    const fetched = await fetchR3(t, t.ps, claims.r3_uri as string);
    expect(fetched.json()).toMatchObject({
      account: 'work',
      display: { summary: expect.stringContaining('work') },
    });
  });

  it('§Operation Validation: an operation the resource does not define → 400 invalid_scope, no token', async () => {
    const { response } = await authorize(t, {
      r3_operations: { vocabulary: MCP, operations: [{ tool: 'list_notes' }, { tool: 'drop_table' }] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('an OpenAPI operationId under the MCP vocabulary is unknown too → 400 invalid_scope', async () => {
    const { response } = await authorize(t, {
      r3_operations: { vocabulary: MCP, operations: [{ tool: 'listNotes' }] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it.each([
    [
      'a vocabulary not in r3_vocabularies',
      { vocabulary: 'urn:aauth:vocabulary:grpc', operations: [{ method: 'a.B/C' }] },
    ],
    ['an MCP entry without tool', { vocabulary: MCP, operations: [{ name: 'list_notes' }] }],
    ['no operations', { vocabulary: MCP, operations: [] }],
    ['not an object', 'list_notes'],
  ])('%s → 400 invalid_request', async (_name, r3_operations) => {
    const { response } = await authorize(t, { r3_operations });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('R3 §R3 Document Access Restriction', () => {
  let uri: string;
  let s256: string;
  let agentKey: KeyPair;
  let agentToken: string;
  beforeAll(async () => {
    const { agent, response } = await authorize(t, {
      r3_operations: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
    });
    const claims = decodePayload(response.json().resource_token);
    uri = claims.r3_uri as string;
    s256 = claims.r3_s256 as string;
    agentKey = agent.key;
    agentToken = agent.agentToken;
  });

  it('the PS in ps (and aud, three-party) fetches it', async () => {
    const response = await fetchR3(t, t.ps, uri);
    expect(response.statusCode).toBe(200);
    expect(computeR3S256(response.rawPayload)).toBe(s256);
  });

  it('an unsigned fetch → 401 Signature-Error', async () => {
    const response = await sendUnsigned(t, { path: new URL(uri).pathname });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_request');
    expect(response.json().error).toBe('invalid_request');
  });

  it('the agent, signing with its agent token → 401 unsupported_scheme (agents cannot read R3 documents)', async () => {
    const response = await send(t, { path: new URL(uri).pathname, key: agentKey, signatureKey: agentToken });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=unsupported_scheme');
    expect(response.headers['accept-signature-scheme']).toBe('jwks_uri');
  });

  it('another PS → 403 forbidden (no Signature-Error)', async () => {
    const response = await fetchR3(t, t.ps2, uri);
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toBe('forbidden');
    expect(response.headers['signature-error']).toBeUndefined();
  });

  it('an AS not named in any resource token for it → 403 forbidden', async () => {
    const response = await fetchR3(t, t.as, uri);
    expect(response.statusCode).toBe(403);
  });

  it('an Agent Provider document under jwks_uri → 401 invalid_key', async () => {
    const response = await fetchR3(t, t.ap, uri, DWK.agent);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_key');
  });

  it('an unknown hash → 404 not_found', async () => {
    const response = await fetchR3(t, t.ps, `${ISSUER}/r3/${computeR3S256('not a document')}`);
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toBe('not_found');
  });

  it('§Hash Verification: a tampered document does not verify against r3_s256', async () => {
    const response = await fetchR3(t, t.ps, uri);
    const tampered = Buffer.from(response.rawPayload.toString('utf8').replace('list_notes', 'drop_notes'));
    expect(() => verifyR3Document(tampered, s256)).toThrow(R3Error);
    // …and a hash of other bytes names no document here.
    const other = await fetchR3(t, t.ps, `${ISSUER}/r3/${computeR3S256(tampered)}`);
    expect(other.statusCode).toBe(404);
  });
});

describe('R3 §R3 Document Access Restriction — four-party', () => {
  let federated: TestApp;
  beforeAll(async () => {
    federated = await startTestApp({ ACCESS_SERVER: 'https://as.example' });
  });
  afterAll(async () => {
    await federated?.close();
  });

  it('the AS in aud and the PS in ps both fetch; a third server cannot', async () => {
    const { response } = await authorize(federated, {
      r3_operations: { vocabulary: OPENAPI, operations: [{ operationId: 'createNote' }] },
    });
    const claims = decodePayload(response.json().resource_token);
    expect(claims.aud).toBe('https://as.example');
    expect((await fetchR3(federated, federated.as, claims.r3_uri as string)).statusCode).toBe(200);
    expect((await fetchR3(federated, federated.ps, claims.r3_uri as string)).statusCode).toBe(200);
    expect((await fetchR3(federated, federated.ps2, claims.r3_uri as string)).statusCode).toBe(403);
  });
});
