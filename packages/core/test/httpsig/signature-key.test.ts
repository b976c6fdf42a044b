import fc from 'fast-check';
import { Token } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { SignatureInvalidRequest } from '../../src/errors.js';
import { parseSignatureKey, serializeSignatureKey } from '../../src/headers/signature-key.js';
import type { SignatureKeyMember } from '../../src/httpsig/types.js';

function only(value: string): SignatureKeyMember {
  const parsed = parseSignatureKey(value);
  expect(parsed.size).toBe(1);
  return [...parsed.values()][0]!;
}

function expectMalformed(value: string): void {
  let caught: unknown;
  try {
    parseSignatureKey(value);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SignatureInvalidRequest);
  expect((caught as SignatureInvalidRequest).error).toBe('invalid_request');
  expect((caught as SignatureInvalidRequest).status).toBe(401);
}

describe('parseSignatureKey — every registered scheme (Signature-Key §3.4-§3.11)', () => {
  it('jwt, with and without cache (§3.8: boolean true serialized bare)', () => {
    expect(only('sig=jwt;jwt="eyJ.a.b"')).toEqual({ scheme: 'jwt', jwt: 'eyJ.a.b' });
    expect(only('sig1=jwt;jwt="eyJ.a.b";cache')).toEqual({ scheme: 'jwt', jwt: 'eyJ.a.b', cache: true });
    expect(only('sig1=jwt;jwt="eyJ.a.b";cache=?0')).toEqual({ scheme: 'jwt', jwt: 'eyJ.a.b', cache: false });
  });

  it('jkt-jwt (§3.5)', () => {
    expect(only('sig=jkt-jwt;jwt="eyJ.c.d"')).toEqual({ scheme: 'jkt-jwt', jwt: 'eyJ.c.d' });
  });

  it('jwks_uri with id, dwk, kid (§3.6)', () => {
    expect(only('sig=jwks_uri;id="https://client.example";dwk="example-configuration";kid="key-1"')).toEqual({
      scheme: 'jwks_uri',
      id: 'https://client.example',
      dwk: 'example-configuration',
      kid: 'key-1',
    });
  });

  it('hwk: the parameters are the JWK members as Strings, alg included (§3.4)', () => {
    expect(
      only('sig=hwk;kty="OKP";crv="Ed25519";x="JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";alg="Ed25519"'),
    ).toEqual({
      scheme: 'hwk',
      jwk: { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', alg: 'Ed25519' },
    });
  });

  it('jwks, self-jwt, cached (§3.7, §3.9, §3.11)', () => {
    expect(only('sig=jwks;url="https://client.example/keys.jwks";kid="key-1"')).toEqual({
      scheme: 'jwks',
      url: 'https://client.example/keys.jwks',
      kid: 'key-1',
    });
    expect(only('sig=self-jwt;jwt="eyJ.e.f"')).toEqual({ scheme: 'self-jwt', jwt: 'eyJ.e.f' });
    expect(only('sig1=cached;cid="2f9c8a1e-a7b3"')).toEqual({ scheme: 'cached', cid: '2f9c8a1e-a7b3' });
  });

  it('x509: x5t is a Byte Sequence (§3.10)', () => {
    const member = only(
      'sig=x509;x5u="https://client.example/.well-known/cert.pem";x5t=:bWcoon4QTVn8Q6xiY0ekMD6L8bNLMkuDV2KtvsFc1nM=:',
    );
    expect(member.scheme).toBe('x509');
    if (member.scheme !== 'x509') return;
    expect(member.x5u).toBe('https://client.example/.well-known/cert.pem');
    expect(Buffer.from(member.x5t).toString('base64')).toBe('bWcoon4QTVn8Q6xiY0ekMD6L8bNLMkuDV2KtvsFc1nM=');
  });

  it('keeps an unknown scheme Token with its raw parameters — never a crash (§3 Unknown schemes)', () => {
    expect(only('sig=future-scheme;a="x";b=2;c=tok;d')).toEqual({
      scheme: 'unknown',
      token: 'future-scheme',
      params: { a: 'x', b: 2, c: new Token('tok'), d: true },
    });
  });

  it('keeps several labels in header order (§3.2)', () => {
    const parsed = parseSignatureKey(
      'sig1=jwt;jwt="eyJ...", sig2=jwks_uri;id="https://example.com";dwk="eg-config";kid="k1"',
    );
    expect([...parsed.keys()]).toEqual(['sig1', 'sig2']);
    expect(parsed.get('sig2')?.scheme).toBe('jwks_uri');
  });

  it('an empty field value is an empty dictionary', () => {
    expect(parseSignatureKey('').size).toBe(0);
  });
});

describe('parseSignatureKey — malformed values are invalid_request', () => {
  it.each([
    ['not a dictionary', 'sig=jwt;jwt="unterminated'],
    ['a String member value', 'sig="jwt"'],
    ['an Integer member value', 'sig=1'],
    ['an Inner List member value', 'sig=(jwt hwk)'],
    ['a Boolean member value', 'sig'],
    ['jwt without jwt', 'sig=jwt'],
    ['jwt given as a Token', 'sig=jwt;jwt=eyJ'],
    ['cache that is not a Boolean', 'sig=jwt;jwt="a";cache="yes"'],
    ['jkt-jwt without jwt', 'sig=jkt-jwt;cache'],
    ['jwks_uri without kid', 'sig=jwks_uri;id="https://a.example";dwk="aauth-person.json"'],
    ['jwks_uri with an Integer kid', 'sig=jwks_uri;id="https://a.example";dwk="d";kid=1'],
    ['hwk with a non-String parameter', 'sig=hwk;kty="OKP";crv=Ed25519'],
    ['x509 with a String x5t', 'sig=x509;x5u="https://a.example/c.pem";x5t="abc"'],
    ['cached without cid', 'sig=cached'],
    ['trailing comma', 'sig=jwt;jwt="a",'],
    ['upper-case label', 'Sig=jwt;jwt="a"'],
  ])('%s', (_name, value) => {
    expectMalformed(value);
  });
});

const sfString = fc.string({
  unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@AZaz[]^_`{|}~"\\'.split('')),
});
const sfKey = fc
  .tuple(
    fc.constantFrom(...'abcxyz*'.split('')),
    fc.string({ unit: fc.constantFrom(...'abz09_-.*'.split('')) }),
  )
  .map(([first, rest]) => first + rest);
const b64url = fc.base64String().map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));

const memberArb: fc.Arbitrary<SignatureKeyMember> = fc.oneof(
  fc.record({ scheme: fc.constant('jwt' as const), jwt: sfString }, { requiredKeys: ['scheme', 'jwt'] }),
  fc
    .record({ scheme: fc.constant('jkt-jwt' as const), jwt: sfString, cache: fc.boolean() })
    .map((m) => (m.cache ? m : { scheme: m.scheme, jwt: m.jwt })),
  fc.record({ scheme: fc.constant('jwks_uri' as const), id: sfString, dwk: sfString, kid: sfString }),
  fc.record({
    scheme: fc.constant('hwk' as const),
    jwk: fc.dictionary(sfKey, b64url, { maxKeys: 5 }),
  }),
  fc.record({ scheme: fc.constant('jwks' as const), url: sfString, kid: sfString }),
  fc.record({ scheme: fc.constant('self-jwt' as const), jwt: sfString }),
  fc.record({ scheme: fc.constant('x509' as const), x5u: sfString, x5t: fc.uint8Array({ maxLength: 48 }) }),
  fc.record({ scheme: fc.constant('cached' as const), cid: sfString }),
  fc.record({
    scheme: fc.constant('unknown' as const),
    token: fc.constantFrom('future', 'x-scheme', 'pq-hwk', 'a:b/c'),
    params: fc.dictionary(sfKey, fc.oneof(sfString, fc.integer(), fc.boolean()), { maxKeys: 4 }),
  }),
);

describe('Signature-Key codec properties (fast-check)', () => {
  it('arbitrary input never throws anything but SignatureInvalidRequest', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), sfString), (value) => {
        try {
          parseSignatureKey(value);
        } catch (err) {
          expect(err).toBeInstanceOf(SignatureInvalidRequest);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutations of a valid header never throw anything but SignatureInvalidRequest', () => {
    const valid = 'sig=jwt;jwt="eyJ.a.b";cache, k=hwk;kty="OKP";alg="Ed25519", c=x509;x5u="u";x5t=:AA==:';
    fc.assert(
      fc.property(
        fc.nat(valid.length),
        fc.nat(valid.length),
        fc.string({ maxLength: 3 }),
        (at, len, insert) => {
          const value = valid.slice(0, at) + insert + valid.slice(at + (len % 4));
          try {
            parseSignatureKey(value);
          } catch (err) {
            expect(err).toBeInstanceOf(SignatureInvalidRequest);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('serialize → parse round-trips every member type', () => {
    fc.assert(
      fc.property(fc.dictionary(sfKey, memberArb, { minKeys: 1, maxKeys: 3 }), (members) => {
        const map = new Map(Object.entries(members));
        const parsed = parseSignatureKey(serializeSignatureKey(map));
        expect([...parsed.keys()]).toEqual([...map.keys()]);
        for (const [label, member] of map) {
          const back = parsed.get(label)!;
          if (member.scheme === 'x509' && back.scheme === 'x509') {
            expect(back.x5u).toBe(member.x5u);
            expect(Buffer.from(back.x5t).equals(Buffer.from(member.x5t))).toBe(true);
          } else {
            expect(back).toEqual(member);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('serializeSignatureKey', () => {
  it('writes the draft forms (§3.4, §3.6, §3.8)', () => {
    expect(serializeSignatureKey({ sig: { scheme: 'jwt', jwt: 'eyJ.a.b' } })).toBe('sig=jwt;jwt="eyJ.a.b"');
    expect(serializeSignatureKey({ sig1: { scheme: 'jwt', jwt: 'eyJ.a.b', cache: true } })).toBe(
      'sig1=jwt;jwt="eyJ.a.b";cache',
    );
    expect(
      serializeSignatureKey({
        sig: { scheme: 'jwks_uri', id: 'https://ps.example', dwk: 'aauth-person.json', kid: 'k1' },
      }),
    ).toBe('sig=jwks_uri;id="https://ps.example";dwk="aauth-person.json";kid="k1"');
    expect(
      serializeSignatureKey({
        sig: { scheme: 'hwk', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc', alg: 'Ed25519' } },
      }),
    ).toBe('sig=hwk;kty="OKP";crv="Ed25519";x="abc";alg="Ed25519"');
  });

  it('throws TypeError for what a Structured Field cannot carry', () => {
    expect(() => serializeSignatureKey({ Sig: { scheme: 'jwt', jwt: 'a' } })).toThrow(TypeError);
    expect(() => serializeSignatureKey({ sig: { scheme: 'jwt', jwt: 'é' } })).toThrow(TypeError);
    expect(() => serializeSignatureKey({ sig: { scheme: 'unknown', token: '1bad', params: {} } })).toThrow(
      TypeError,
    );
  });
});
