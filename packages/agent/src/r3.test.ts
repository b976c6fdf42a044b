import { describe, expect, it } from 'vitest';
import {
  classifyAuthToken,
  effectiveAccessMode,
  MCP_VOCABULARY,
  mcpToolAccessMode,
  r3ClaimLists,
} from './r3.js';

describe('operation access annotations (R3 §Applying Annotations, §Budget Annotation)', () => {
  it('an annotation replaces the resource access_mode; absent, the resource-wide mode applies', () => {
    expect(effectiveAccessMode({ accessMode: 'person-token' }, 'auth-token')).toBe('person-token');
    expect(effectiveAccessMode({}, 'auth-token')).toBe('auth-token');
    expect(effectiveAccessMode({}, undefined)).toBeUndefined();
  });

  it('§Access Mode Annotation: session-token MUST NOT appear — an annotation carrying it is ignored', () => {
    expect(effectiveAccessMode({ accessMode: 'session-token' }, 'agent-token')).toBe('agent-token');
    expect(effectiveAccessMode({ accessMode: 'bogus' }, undefined)).toBeUndefined();
  });

  it('§Budget Annotation: budget true implies auth-token, and MUST be treated as auth-token over agent-token/person-token', () => {
    expect(effectiveAccessMode({ budget: true }, 'agent-token')).toBe('auth-token');
    expect(effectiveAccessMode({ accessMode: 'agent-token', budget: true })).toBe('auth-token');
    expect(effectiveAccessMode({ accessMode: 'person-token', budget: true })).toBe('auth-token');
    expect(effectiveAccessMode({ accessMode: 'per-call', budget: true })).toBe('per-call');
    expect(effectiveAccessMode({ accessMode: 'person-token', budget: false })).toBe('person-token');
  });

  it('§Vocabulary Encodings: an MCP Tool carries them in _meta', () => {
    const tool = {
      name: 'purchase_dataset',
      _meta: { 'aauth.dev/access-mode': 'per-call', 'aauth.dev/budget': true },
    };
    expect(mcpToolAccessMode(tool)).toBe('per-call');
    expect(mcpToolAccessMode({ name: 'x' }, 'person-token')).toBe('person-token');
  });
});

describe('R3 grants in auth tokens', () => {
  const grant = (...tools: string[]) => ({
    vocabulary: MCP_VOCABULARY,
    operations: tools.map((tool) => ({ tool })),
  });

  it('an operation is matched by its identity in the same vocabulary only', () => {
    expect(r3ClaimLists(grant('a', 'b'), MCP_VOCABULARY, { tool: 'b' })).toBe(true);
    expect(r3ClaimLists(grant('a'), MCP_VOCABULARY, { tool: 'b' })).toBe(false);
    expect(r3ClaimLists(grant('a'), 'urn:aauth:vocabulary:openapi', { tool: 'a' })).toBe(false);
    expect(r3ClaimLists(undefined, MCP_VOCABULARY, { tool: 'a' })).toBe(false);
  });

  it('§Per-Call Proposals: which obtained auth token is good for one call', () => {
    const invocation = {
      vocabulary: MCP_VOCABULARY,
      operations: [{ tool: 'del' }],
      accessModes: ['auth-token' as const],
    };
    // The presented grant named the tool in r3_per_call: the challenge was the proposal.
    expect(classifyAuthToken(invocation, { r3_per_call: grant('del') }, { r3_granted: grant('del') })).toBe(
      'per-call',
    );
    // A class grant naming it in r3_per_call is kept.
    expect(classifyAuthToken(invocation, undefined, { r3_per_call: grant('del') })).toBe('grant');
    // Only the annotation says so.
    expect(
      classifyAuthToken({ ...invocation, accessModes: ['per-call'] }, undefined, {
        r3_granted: grant('del'),
      }),
    ).toBe('per-call-annotated');
    expect(classifyAuthToken(invocation, undefined, { r3_granted: grant('del') })).toBe('grant');
    expect(classifyAuthToken(undefined, { r3_per_call: grant('del') }, {})).toBe('grant');
  });
});

describe('R3 claims read through core (§Auth Token Extensions)', () => {
  it('a malformed r3_granted grants nothing rather than throwing', () => {
    expect(
      r3ClaimLists({ vocabulary: MCP_VOCABULARY, operations: [{}] }, MCP_VOCABULARY, { tool: 'a' }),
    ).toBe(false);
    expect(r3ClaimLists({ vocabulary: MCP_VOCABULARY }, MCP_VOCABULARY, { tool: 'a' })).toBe(false);
    expect(r3ClaimLists('notes.write', MCP_VOCABULARY, { tool: 'a' })).toBe(false);
  });

  it('an empty r3_granted (narrowed to nothing) is well formed and lists nothing', () => {
    expect(r3ClaimLists({ vocabulary: MCP_VOCABULARY, operations: [] }, MCP_VOCABULARY, { tool: 'a' })).toBe(
      false,
    );
  });
});
