import { DEV, STRICT } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import {
  evaluatePolicy,
  PolicyDocumentError,
  type PolicyInput,
  parsePolicyDocument,
  type ResourcePolicy,
} from './policy.js';

const policy: ResourcePolicy = {
  resource: 'https://r.example',
  fallback: 'omit',
  rules: [
    { scopes: ['a'], when: { ps: ['https://ps.example'] }, effect: 'grant' },
    { scopes: ['b'], when: { claims: { email: { present: true } } }, effect: 'grant' },
    { scopes: ['c'], when: { tenant: ['t1', 't2'] }, effect: 'grant' },
    { scopes: ['x'], effect: 'deny' },
    { scopes: ['*'], when: { ps_trusted: true }, effect: 'grant' },
  ],
};
const input: PolicyInput = { ps: 'https://ps.example', psTrusted: false, agent: {}, subagent: false };

describe('evaluatePolicy', () => {
  it('grants in request order, dropping omitted scopes, deduplicated', () => {
    expect(evaluatePolicy(policy, { ...input, scope: 'z a a' })).toEqual({ kind: 'grant', scope: 'a' });
  });
  it('asks for the claims a deciding rule names, and only then', () => {
    expect(evaluatePolicy(policy, { ...input, scope: 'a b' })).toEqual({
      kind: 'claims',
      required_claims: ['email'],
    });
    expect(evaluatePolicy(policy, { ...input, scope: 'a b', claims: { sub: 's', email: 'e' } })).toEqual({
      kind: 'grant',
      scope: 'a b',
    });
    expect(evaluatePolicy(policy, { ...input, scope: 'a b', claims: { sub: 's' } })).toEqual({
      kind: 'grant',
      scope: 'a',
    });
  });
  it('a deny anywhere refuses the request; nothing granted is a deny; no policy is a deny', () => {
    expect(evaluatePolicy(policy, { ...input, scope: 'a x' }).kind).toBe('deny');
    expect(evaluatePolicy(policy, { ...input, scope: 'z' }).kind).toBe('deny');
    expect(evaluatePolicy(undefined, { ...input, scope: 'a' }).kind).toBe('deny');
  });
  it('matches tenant lists, wildcard rules, and a request without scope', () => {
    expect(evaluatePolicy(policy, { ...input, scope: 'c', tenant: 't2' })).toEqual({
      kind: 'grant',
      scope: 'c',
    });
    expect(evaluatePolicy(policy, { ...input, scope: 'z', psTrusted: true })).toEqual({
      kind: 'grant',
      scope: 'z',
    });
    expect(evaluatePolicy(policy, { ...input, psTrusted: true })).toEqual({ kind: 'grant' });
    expect(evaluatePolicy(policy, input).kind).toBe('deny');
  });
});

describe('parsePolicyDocument', () => {
  it('accepts the documented shape and refuses unknown members and bad identifiers', () => {
    const doc = {
      trusted_person_servers: ['http://localhost:3001'],
      resources: { 'http://localhost:3003': { rules: [] } },
    };
    expect(parsePolicyDocument(doc, DEV)).toEqual(doc);
    expect(() => parsePolicyDocument(doc, STRICT)).toThrow(PolicyDocumentError);
    expect(() => parsePolicyDocument({ resources: {}, extra: 1 }, DEV)).toThrow(PolicyDocumentError);
    expect(() =>
      parsePolicyDocument(
        { resources: { 'https://r.example': { rules: [{ scopes: ['a'], effect: 'allow' }] } } },
        DEV,
      ),
    ).toThrow(PolicyDocumentError);
  });
});

describe('policy/dev-policy.json', () => {
  it('is a valid policy document in development mode', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../policy/dev-policy.json', import.meta.url), 'utf8');
    expect(() => parsePolicyDocument(JSON.parse(text), DEV)).not.toThrow();
  });
});

describe('evaluatePolicy: steps (require, clarification, bound)', () => {
  const steps: ResourcePolicy = {
    resource: 'https://r.example',
    fallback: 'omit',
    rules: [
      {
        scopes: ['s'],
        require: ['approval', 'interaction', 'payment'],
        clarification: { question: 'Q?', expect: 'yes' },
        when: { claims: { email: { present: true } } },
        effect: 'grant',
      },
      { scopes: ['b'], when: { bound: true }, effect: 'grant' },
    ],
  };
  const claims = { sub: 's', email: 'e' };
  it('asks one step at a time: payment, interaction, claims, clarification, approval', () => {
    const at = (extra: Partial<PolicyInput>) => evaluatePolicy(steps, { ...input, scope: 's', ...extra });
    expect(at({})).toEqual({ kind: 'payment', interaction: true });
    expect(at({ billing: true })).toEqual({ kind: 'interaction' });
    expect(at({ billing: true, bound: true })).toEqual({ kind: 'claims', required_claims: ['email'] });
    expect(at({ billing: true, bound: true, claims })).toEqual({
      kind: 'clarification',
      clarification: 'Q?',
    });
    const answered = { billing: true, bound: true, claims, answers: { 'Q?': ' YES ' } };
    expect(at(answered)).toEqual({ kind: 'approval' });
    expect(at({ ...answered, approved: true })).toEqual({ kind: 'grant', scope: 's' });
    expect(at({ ...answered, answers: { 'Q?': 'no' }, approved: true }).kind).toBe('deny');
  });
  it('the bound condition', () => {
    expect(evaluatePolicy(steps, { ...input, scope: 'b', bound: true })).toEqual({
      kind: 'grant',
      scope: 'b',
    });
    expect(evaluatePolicy(steps, { ...input, scope: 'b' }).kind).toBe('deny');
  });
  it('require and clarification only on grant rules', () => {
    const doc = {
      resources: {
        'https://r.example': { rules: [{ scopes: ['x'], require: ['approval'], effect: 'deny' }] },
      },
    };
    expect(() => parsePolicyDocument(doc, STRICT)).toThrow(PolicyDocumentError);
  });
});
