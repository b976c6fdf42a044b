import { describe, expect, it } from 'vitest';
import { computeContentDigest } from '../../src/content-digest.js';
import { signRequest } from '../../src/httpsig/sign.js';
import { generateKeyPair } from '../../src/jwk.js';
import { createHarness, NOW, toRequest } from './helpers.js';

describe('signRequest (§Signing (Agent))', () => {
  it('signs a GET with label sig, the four profile components and created only — no alg, no keyid', () => {
    const h = createHarness();
    const headers = signRequest(toRequest(), {
      key: h.holder,
      signatureKey: { scheme: 'jwt', jwt: h.agentJwt },
      clock: h.clock,
    });
    expect(headers['signature-input']).toBe(
      `sig=("@method" "@authority" "@path" "signature-key");created=${NOW}`,
    );
    expect(headers['signature-key']).toBe(`sig=jwt;jwt="${h.agentJwt}"`);
    expect(headers.signature).toMatch(/^sig=:[A-Za-z0-9+/]{86}==:$/);
    expect(headers['content-digest']).toBeUndefined();
  });

  it('adds content-type and content-digest for a body, computing Content-Digest (RFC 9530)', () => {
    const h = createHarness();
    const body = new TextEncoder().encode('{"a":1}');
    const headers = signRequest(
      toRequest({ method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      { key: h.holder, signatureKey: { scheme: 'jwt', jwt: h.agentJwt }, clock: h.clock },
    );
    expect(headers['content-digest']).toBe(computeContentDigest(body));
    expect(headers['signature-input']).toBe(
      `sig=("@method" "@authority" "@path" "signature-key" "content-type" "content-digest");created=${NOW}`,
    );
  });

  it('keeps a Content-Digest the caller already set', () => {
    const h = createHarness();
    const body = new TextEncoder().encode('{"a":1}');
    const headers = signRequest(
      toRequest({
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-digest': computeContentDigest(body, ['sha-512']),
        },
        body,
      }),
      { key: h.holder, signatureKey: { scheme: 'jwt', jwt: h.agentJwt }, clock: h.clock },
    );
    expect(headers['content-digest']).toBeUndefined();
  });

  it('covers authorization when Authorization: AAuth is sent, plus additional components and expires', () => {
    const h = createHarness();
    const headers = signRequest(
      toRequest({ url: 'https://resource.example/a?b=c', headers: { authorization: 'AAuth tok' } }),
      {
        key: h.holder,
        signatureKey: { scheme: 'jwt', jwt: h.agentJwt },
        clock: h.clock,
        additionalComponents: ['@query', '@path'],
        expiresInSeconds: 30,
      },
    );
    expect(headers['signature-input']).toBe(
      `sig=("@method" "@authority" "@path" "signature-key" "authorization" "@query");created=${NOW};expires=${NOW + 30}`,
    );
  });

  it('writes every scheme the agent and servers send', () => {
    const h = createHarness();
    const key = generateKeyPair('ES256', 'k1');
    const sign = (signatureKey: Parameters<typeof signRequest>[1]['signatureKey']) =>
      signRequest(toRequest(), { key, signatureKey, clock: h.clock })['signature-key'];
    expect(sign({ scheme: 'jwks_uri', id: 'https://ps.example', dwk: 'aauth-person.json', kid: 'k1' })).toBe(
      'sig=jwks_uri;id="https://ps.example";dwk="aauth-person.json";kid="k1"',
    );
    expect(
      sign({ scheme: 'hwk', jwk: { kty: 'EC', crv: 'P-256', x: key.jwk.x, y: key.jwk.y!, alg: 'ES256' } }),
    ).toBe(`sig=hwk;kty="EC";crv="P-256";x="${key.jwk.x}";y="${key.jwk.y}";alg="ES256"`);
    expect(sign({ scheme: 'jkt-jwt', jwt: 'a.b.c' })).toBe('sig=jkt-jwt;jwt="a.b.c"');
  });

  it('uses another label when asked', () => {
    const h = createHarness();
    const headers = signRequest(toRequest(), {
      key: h.holder,
      signatureKey: { scheme: 'jwt', jwt: h.agentJwt },
      clock: h.clock,
      label: 'aauth',
    });
    expect(headers['signature-input'].startsWith('aauth=(')).toBe(true);
    expect(headers['signature-key'].startsWith('aauth=jwt;')).toBe(true);
    expect(headers.signature.startsWith('aauth=:')).toBe(true);
  });

  it('refuses to sign a body without Content-Type, or a covered header that is absent', () => {
    const h = createHarness();
    const options = {
      key: h.holder,
      signatureKey: { scheme: 'jwt' as const, jwt: h.agentJwt },
      clock: h.clock,
    };
    expect(() => signRequest(toRequest({ method: 'POST', body: 'x' }), options)).toThrow(TypeError);
    expect(() => signRequest(toRequest(), { ...options, additionalComponents: ['x-missing'] })).toThrow(
      TypeError,
    );
  });
});
