import { describe, expect, it } from 'vitest';
import { DEV, STRICT } from '../identifiers.js';
import { buildWellKnownUrl, validateMetadata } from './metadata.js';
import { DiscoveryError } from './types.js';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DiscoveryError);
    return (error as DiscoveryError).reason;
  }
  throw new Error('expected a DiscoveryError');
}

const AGENT = {
  issuer: 'https://agent.example',
  jwks_uri: 'https://agent.example/.well-known/jwks.json',
  callback_endpoint: 'https://agent.example/callback',
  localhost_callback_allowed: true,
  some_extension: { kept: true },
};

const PERSON = {
  issuer: 'https://ps.example',
  jwks_uri: 'https://ps.example/.well-known/jwks.json',
  auth_token_endpoint: 'https://ps.example/token',
  person_token_endpoint: 'https://ps.example/person',
  mission_endpoint: 'https://ps.example/mission',
  scopes_supported: ['openid', 'email'],
};

const RESOURCE = {
  issuer: 'https://resource.example',
  access_mode: 'auth-token',
  authorization_endpoint: 'https://resource.example/authorize',
  scope_descriptions: { 'data.read': 'Read your data' },
  signature_window: 60,
  additional_signature_components: ['content-type', 'content-digest'],
};

describe('buildWellKnownUrl', () => {
  it('appends /.well-known/{dwk} to the issuer (Signature-Key §3.6 step 1)', () => {
    expect(buildWellKnownUrl('https://agent.example', 'aauth-agent.json')).toBe(
      'https://agent.example/.well-known/aauth-agent.json',
    );
  });
  it.each(['', '..', '.', '../x', 'a/b', 'a?b', 'a#b', 'a%2fb', 'a b'])('refuses dwk %j', (dwk) => {
    expect(reasonOf(() => buildWellKnownUrl('https://agent.example', dwk))).toBe('metadata');
  });
});

describe('validateMetadata (§Metadata Documents)', () => {
  it('accepts each role document and keeps unknown members', () => {
    expect(validateMetadata(AGENT, AGENT.issuer, 'aauth-agent.json', STRICT)).toEqual(AGENT);
    expect(validateMetadata(PERSON, PERSON.issuer, 'aauth-person.json', STRICT)).toEqual(PERSON);
    expect(validateMetadata(RESOURCE, RESOURCE.issuer, 'aauth-resource.json', STRICT)).toEqual(RESOURCE);
    const access = {
      issuer: 'https://as.example',
      jwks_uri: 'https://as.example/jwks',
      auth_token_endpoint: 'https://as.example/token',
    };
    expect(validateMetadata(access, access.issuer, 'aauth-access.json', STRICT)).toEqual(access);
  });

  // "A document with no issuer MUST be rejected with issuer_missing".
  it('issuer_missing when issuer is absent', () => {
    const { issuer: _drop, ...rest } = AGENT;
    expect(reasonOf(() => validateMetadata(rest, AGENT.issuer, 'aauth-agent.json', STRICT))).toBe(
      'issuer_missing',
    );
    expect(
      reasonOf(() => validateMetadata({ ...rest, issuer: null }, AGENT.issuer, 'aauth-agent.json', STRICT)),
    ).toBe('issuer_missing');
  });

  // "compared by byte equality as presented ... one whose issuer does not match MUST be rejected with issuer_mismatch".
  it.each([
    'https://agent.example/',
    'https://Agent.example',
    'https://AGENT.EXAMPLE',
    'https://agent.example:443',
    'http://agent.example',
    'https://other.example',
    'https://agent.example.',
  ])('issuer_mismatch for %s', (issuer) => {
    expect(
      reasonOf(() => validateMetadata({ ...AGENT, issuer }, AGENT.issuer, 'aauth-agent.json', STRICT)),
    ).toBe('issuer_mismatch');
  });

  it('issuer_mismatch for a non-string issuer', () => {
    expect(
      reasonOf(() => validateMetadata({ ...AGENT, issuer: 42 }, AGENT.issuer, 'aauth-agent.json', STRICT)),
    ).toBe('issuer_mismatch');
  });

  it('refuses a document that is not an object', () => {
    for (const doc of [null, [], 'x', 1]) {
      expect(reasonOf(() => validateMetadata(doc, AGENT.issuer, 'aauth-agent.json', STRICT))).toBe(
        'metadata',
      );
    }
  });

  it.each([
    ['aauth-agent.json', AGENT, 'jwks_uri'],
    ['aauth-person.json', PERSON, 'jwks_uri'],
    ['aauth-person.json', PERSON, 'auth_token_endpoint'],
    ['aauth-person.json', PERSON, 'person_token_endpoint'],
  ] as const)('%s requires %s', (dwk, doc, member) => {
    const copy: Record<string, unknown> = { ...doc };
    delete copy[member];
    expect(reasonOf(() => validateMetadata(copy, doc.issuer, dwk, STRICT))).toBe('metadata');
  });

  it('a resource may omit jwks_uri', () => {
    expect(
      validateMetadata(RESOURCE, RESOURCE.issuer, 'aauth-resource.json', STRICT).jwks_uri,
    ).toBeUndefined();
  });

  // §Other URLs: jwks_uri MUST use https; §Endpoint URLs: https, no query, no fragment.
  it.each([
    ['jwks_uri', 'http://agent.example/jwks'],
    ['jwks_uri', 'agent.example/jwks'],
    ['logo_uri', 'http://agent.example/logo.png'],
    ['tos_uri', 'javascript:alert(1)'],
    ['callback_endpoint', 'http://agent.example/cb'],
    ['callback_endpoint', 'https://agent.example/cb?x=1'],
    ['callback_endpoint', 'https://agent.example/cb#f'],
    ['event_endpoint', 'http://agent.example/events'],
    ['localhost_callback_allowed', 'yes'],
    ['name', 7],
    ['description', ['x']],
    ['accept_signature_algs', 'Ed25519'],
    ['accept_signature_algs', [1]],
  ])('agent metadata refuses %s = %j', (member, value) => {
    expect(
      reasonOf(() =>
        validateMetadata({ ...AGENT, [member]: value }, AGENT.issuer, 'aauth-agent.json', STRICT),
      ),
    ).toBe('metadata');
  });

  it.each([
    ['auth_token_endpoint', 'https://ps.example/token?x'],
    ['person_token_endpoint', 'http://ps.example/person'],
    ['mission_endpoint', 'https://ps.example/m#frag'],
    ['revocation_endpoint', 'ftp://ps.example/r'],
    ['scopes_supported', 'openid'],
  ])('person metadata refuses %s = %j', (member, value) => {
    expect(
      reasonOf(() =>
        validateMetadata({ ...PERSON, [member]: value }, PERSON.issuer, 'aauth-person.json', STRICT),
      ),
    ).toBe('metadata');
  });

  it.each([
    ['scope_descriptions', ['data.read']],
    ['scope_descriptions', { 'data.read': 1 }],
    ['signature_window', 0],
    ['signature_window', -5],
    ['signature_window', 1.5],
    ['signature_window', '60'],
    ['additional_signature_components', 'content-type'],
    ['additional_signature_components', ['content-type', 3]],
    ['access_mode', 1],
    ['authorization_endpoint', 'https://resource.example/authorize?x=1'],
  ])('resource metadata refuses %s = %j', (member, value) => {
    expect(
      reasonOf(() =>
        validateMetadata({ ...RESOURCE, [member]: value }, RESOURCE.issuer, 'aauth-resource.json', STRICT),
      ),
    ).toBe('metadata');
  });

  it('development mode admits loopback http URLs, strict mode does not', () => {
    const doc = { issuer: 'http://localhost:3001', jwks_uri: 'http://localhost:3001/.well-known/jwks.json' };
    expect(validateMetadata(doc, doc.issuer, 'aauth-agent.json', DEV)).toEqual(doc);
    expect(reasonOf(() => validateMetadata(doc, doc.issuer, 'aauth-agent.json', STRICT))).toBe('metadata');
    const remote = { issuer: 'http://localhost:3001', jwks_uri: 'http://agent.example/jwks' };
    expect(reasonOf(() => validateMetadata(remote, remote.issuer, 'aauth-agent.json', DEV))).toBe('metadata');
  });

  it('an unknown access_mode string is kept (agents ignore what they do not recognise)', () => {
    const doc = { ...RESOURCE, access_mode: 'per-call' };
    expect(validateMetadata(doc, doc.issuer, 'aauth-resource.json', STRICT).access_mode).toBe('per-call');
  });
});
