import { describe, expect, it } from 'vitest';
import { DEV, STRICT } from '../identifiers.js';
import {
  computeR3S256,
  decideR3Enforcement,
  encodeR3Document,
  findR3ParameterMismatch,
  findUnknownR3Operations,
  isR3DigestParameter,
  isR3Proposal,
  jsonEqual,
  parseR3Document,
  parseR3Operations,
  R3_VOCABULARY_MCP,
  R3_VOCABULARY_OPENAPI,
  R3Error,
  r3OperationKey,
  r3OperationsInclude,
  r3TokenClaimsProblem,
  unionR3Operations,
  verifyR3Document,
} from './index.js';

function r3Error(fn: () => unknown): R3Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(R3Error);
    return err as R3Error;
  }
  throw new Error('expected an R3Error');
}

describe('computeR3S256 (§Content Addressing)', () => {
  it('is the unpadded base64url SHA-256 of the bytes', () => {
    // SHA-256("abc") = ba7816bf…
    expect(computeR3S256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    expect(computeR3S256(new TextEncoder().encode('abc'))).toBe(computeR3S256('abc'));
  });
  it('hashes the bytes as served: whitespace changes the identity', () => {
    expect(computeR3S256('{"a":1}')).not.toBe(computeR3S256('{ "a": 1 }'));
  });
});

describe('parseR3Operations (§Authorization Endpoint Extensions)', () => {
  it('accepts MCP and OpenAPI entries', () => {
    const mcp = parseR3Operations({ vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'create_note' }] });
    expect(mcp.operations).toEqual([{ tool: 'create_note' }]);
    const api = parseR3Operations({
      vocabulary: R3_VOCABULARY_OPENAPI,
      operations: [{ operationId: 'listNotes' }],
    });
    expect(api.vocabulary).toBe('urn:aauth:vocabulary:openapi');
  });
  it.each([
    ['not an object', 'x'],
    ['no vocabulary', { operations: [{ tool: 'a' }] }],
    ['operations not an array', { vocabulary: R3_VOCABULARY_MCP, operations: {} }],
    ['empty operations', { vocabulary: R3_VOCABULARY_MCP, operations: [] }],
    ['MCP entry without tool', { vocabulary: R3_VOCABULARY_MCP, operations: [{ operationId: 'a' }] }],
    ['OpenAPI entry without operationId', { vocabulary: R3_VOCABULARY_OPENAPI, operations: [{ tool: 'a' }] }],
    ['duplicate operation', { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'a' }, { tool: 'a' }] }],
    [
      'graphql type',
      { vocabulary: 'urn:aauth:vocabulary:graphql', operations: [{ operation: 'A', type: 'x' }] },
    ],
  ])('rejects %s as malformed', (_name, value) => {
    expect(r3Error(() => parseR3Operations(value)).reason).toBe('malformed');
  });
  it('rejects a vocabulary the caller does not support', () => {
    const err = r3Error(() =>
      parseR3Operations(
        { vocabulary: 'urn:aauth:vocabulary:grpc', operations: [{ method: 'a.B/C' }] },
        { vocabularies: [R3_VOCABULARY_MCP] },
      ),
    );
    expect(err.reason).toBe('vocabulary');
    expect(err.status).toBe(400);
    expect(err.error).toBe('invalid_request');
  });
  it('allows an empty grant when asked (r3_granted narrowed to nothing)', () => {
    expect(
      parseR3Operations({ vocabulary: R3_VOCABULARY_MCP, operations: [] }, { allowEmpty: true }).operations,
    ).toEqual([]);
  });
});

describe('operation identity and grant matching (§Operation Identifier Scope, §Grant Enforcement)', () => {
  const grant = { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'create_note' }] };
  it('keys MCP by tool and OpenAPI by operationId', () => {
    expect(r3OperationKey(R3_VOCABULARY_MCP, { tool: 't' })).toBe('t');
    expect(r3OperationKey(R3_VOCABULARY_OPENAPI, { operationId: 'o' })).toBe('o');
  });
  it('a grant for one tool does not include another', () => {
    expect(r3OperationsInclude(grant, R3_VOCABULARY_MCP, { tool: 'create_note' })).toBe(true);
    expect(r3OperationsInclude(grant, R3_VOCABULARY_MCP, { tool: 'delete_note' })).toBe(false);
  });
  it('a grant in another vocabulary includes nothing', () => {
    expect(r3OperationsInclude(grant, R3_VOCABULARY_OPENAPI, { operationId: 'create_note' })).toBe(false);
  });
  it('decides granted, per_call, none in the order of §Resource Enforcement', () => {
    const claims = {
      r3_granted: grant,
      r3_per_call: {
        vocabulary: R3_VOCABULARY_MCP,
        operations: [{ tool: 'delete_note' }, { tool: 'create_note' }],
      },
    };
    expect(decideR3Enforcement(claims, R3_VOCABULARY_MCP, { tool: 'create_note' })).toBe('granted');
    expect(decideR3Enforcement(claims, R3_VOCABULARY_MCP, { tool: 'delete_note' })).toBe('per_call');
    expect(decideR3Enforcement(claims, R3_VOCABULARY_MCP, { tool: 'list_notes' })).toBe('none');
    expect(decideR3Enforcement({}, R3_VOCABULARY_MCP, { tool: 'list_notes' })).toBe('none');
  });
  it('finds operations the authoritative definition lacks (§Operation Validation)', () => {
    const requested = {
      vocabulary: R3_VOCABULARY_MCP,
      operations: [{ tool: 'create_note' }, { tool: 'nope' }],
    };
    expect(findUnknownR3Operations(requested, new Set(['create_note']))).toEqual([{ tool: 'nope' }]);
  });
  it('unions operations keeping the first occurrence (§Operations Spanning Multiple Definitions)', () => {
    expect(
      unionR3Operations(R3_VOCABULARY_MCP, [{ tool: 'a' }, { tool: 'b' }], [{ tool: 'b' }, { tool: 'c' }]),
    ).toEqual([{ tool: 'a' }, { tool: 'b' }, { tool: 'c' }]);
  });
});

describe('R3 documents (§R3 Document, §Hash Verification)', () => {
  const doc = {
    vocabulary: R3_VOCABULARY_MCP,
    operations: [{ tool: 'create_note' }],
    display: { summary: 'Create notes' },
  };
  it('encodes once and parses the same bytes back', () => {
    const encoded = encodeR3Document(doc);
    const parsed = verifyR3Document(encoded.bytes, encoded.s256);
    expect(parsed.document).toEqual(doc);
    expect(parsed.s256).toBe(encoded.s256);
  });
  it('rejects bytes that do not hash to r3_s256', () => {
    const encoded = encodeR3Document(doc);
    const tampered = new TextEncoder().encode(
      new TextDecoder().decode(encoded.bytes).replace('Create', 'Delete'),
    );
    expect(r3Error(() => verifyR3Document(tampered, encoded.s256)).reason).toBe('hash_mismatch');
  });
  it.each([
    ['display without summary', { ...doc, display: { implications: 'x' } }],
    ['non-string account', { ...doc, account: 7 }],
    ['non-string detail', { ...doc, display: { summary: 's', detail: 1 } }],
    ['malformed digest object', { ...doc, parameters: { body: { s256: 'short' } } }],
  ])('rejects %s', (_name, value) => {
    expect(r3Error(() => parseR3Document(JSON.stringify(value))).reason).toBe('malformed');
  });
  it('rejects bytes that are not UTF-8 JSON objects', () => {
    expect(r3Error(() => parseR3Document(new Uint8Array([0xff, 0xfe]))).reason).toBe('not_json');
    expect(r3Error(() => parseR3Document('[1]')).reason).toBe('not_json');
  });
  it('requires one operation and parameters of a per-call proposal (§Proposal Document)', () => {
    expect(r3Error(() => parseR3Document(JSON.stringify(doc), { proposal: true })).reason).toBe('malformed');
    const two = { ...doc, operations: [{ tool: 'a' }, { tool: 'b' }], parameters: {} };
    expect(r3Error(() => parseR3Document(JSON.stringify(two), { proposal: true })).reason).toBe('malformed');
    const proposal = {
      ...doc,
      parameters: { id: 'n1' },
      display: { summary: 's', detail: '## Action\nDelete' },
    };
    expect(isR3Proposal(parseR3Document(JSON.stringify(proposal), { proposal: true }).document)).toBe(true);
  });
});

describe('per-call parameter binding (§Per-Call Proposals, Flow step 3)', () => {
  const body = 'Hi Mom, are you free Sunday?';
  const stored = {
    to: 'mom@example.com',
    options: { cc: ['a', 'b'], urgent: false },
    body: { s256: computeR3S256(body), excerpt: 'Hi Mom' },
  };
  it('recognizes digest objects', () => {
    expect(isR3DigestParameter(stored.body)).toBe(true);
    expect(isR3DigestParameter({ s256: computeR3S256('x'), other: 1 })).toBe(false);
  });
  it('matches structurally regardless of member order, and digests by bytes', () => {
    const presented = { body, options: { urgent: false, cc: ['a', 'b'] }, to: 'mom@example.com' };
    expect(findR3ParameterMismatch(stored, presented)).toBeUndefined();
  });
  it('rejects a different inline value, a different digested value, a missing and an extra parameter', () => {
    expect(findR3ParameterMismatch(stored, { body, options: stored.options, to: 'x@example.com' })).toEqual({
      kind: 'value',
      name: 'to',
    });
    expect(
      findR3ParameterMismatch(stored, { body: `${body} `, options: stored.options, to: stored.to }),
    ).toEqual({
      kind: 'digest',
      name: 'body',
    });
    expect(findR3ParameterMismatch(stored, { options: stored.options, to: stored.to })).toEqual({
      kind: 'missing',
      name: 'body',
    });
    expect(
      findR3ParameterMismatch(stored, { body, options: stored.options, to: stored.to, bcc: 'y' }),
    ).toEqual({
      kind: 'unexpected',
      name: 'bcc',
    });
  });
  it('array order matters, member order does not', () => {
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
  });
});

describe('R3 token claims (§Resource Token Extensions, §Auth Token Extensions)', () => {
  const s256 = computeR3S256('doc');
  const uri = 'https://rs.example/r3/x';
  const granted = { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'create_note' }] };
  it('resource token: both or neither (MUST include both)', () => {
    expect(r3TokenClaimsProblem('resource', {}, STRICT)).toBeUndefined();
    expect(r3TokenClaimsProblem('resource', { r3_uri: uri, r3_s256: s256 }, STRICT)).toBeUndefined();
    expect(r3TokenClaimsProblem('resource', { r3_uri: uri }, STRICT)).toMatch(/without the other/);
    expect(r3TokenClaimsProblem('resource', { r3_s256: s256 }, STRICT)).toMatch(/without the other/);
    expect(r3TokenClaimsProblem('resource', { r3_uri: uri, r3_s256: 'abc' }, STRICT)).toMatch(/SHA-256/);
    expect(
      r3TokenClaimsProblem('resource', { r3_uri: 'http://rs.example/r3', r3_s256: s256 }, STRICT),
    ).toMatch(/https/);
    expect(
      r3TokenClaimsProblem('resource', { r3_uri: 'http://localhost:3003/r3/x', r3_s256: s256 }, DEV),
    ).toBeUndefined();
  });
  it('auth token: r3_granted required with r3_uri; grants need the reference; vocabularies agree', () => {
    expect(
      r3TokenClaimsProblem('auth', { r3_uri: uri, r3_s256: s256, r3_granted: granted }, STRICT),
    ).toBeUndefined();
    expect(r3TokenClaimsProblem('auth', { r3_uri: uri, r3_s256: s256 }, STRICT)).toMatch(/r3_granted/);
    expect(r3TokenClaimsProblem('auth', { r3_granted: granted }, STRICT)).toMatch(/without r3_uri/);
    expect(
      r3TokenClaimsProblem(
        'auth',
        {
          r3_uri: uri,
          r3_s256: s256,
          r3_granted: granted,
          r3_per_call: { vocabulary: R3_VOCABULARY_OPENAPI, operations: [] },
        },
        STRICT,
      ),
    ).toMatch(/different vocabularies/);
    expect(
      r3TokenClaimsProblem(
        'auth',
        { r3_uri: uri, r3_s256: s256, r3_granted: { vocabulary: R3_VOCABULARY_MCP } },
        STRICT,
      ),
    ).toMatch(/operations/);
  });
});
