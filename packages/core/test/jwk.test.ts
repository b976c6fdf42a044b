import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidKey, UnsupportedAlgorithm } from '../src/errors.js';
import {
  checkPublicJwk,
  exportPrivateJwk,
  generateKeyPair,
  importPrivateJwk,
  importPublicJwk,
  jwkThumbprint,
  KeyCheckError,
  type KeyProblem,
  keyCheckToSignatureError,
  signBytes,
  toPublicJwks,
  verifyBytes,
} from '../src/jwk.js';

/** RFC 8037 Appendix A.1–A.3: the Ed25519 key and its RFC 7638 thumbprint. */
const RFC8037 = {
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
  thumbprint: 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
  /** A.4: signing "Example of Ed25519 signing" with header {"alg":"EdDSA"}. */
  signingInput: 'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc',
  signature: 'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
};

function problemOf(fn: () => unknown): KeyProblem {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyCheckError);
    return (err as KeyCheckError).problem;
  }
  throw new Error('expected KeyCheckError');
}

const ed = () => ({ ...generateKeyPair('Ed25519').jwk });
const ec = () => ({ ...generateKeyPair('ES256').jwk });

describe('known answers', () => {
  it('RFC 8037 A.3 thumbprint (RFC 7638 over an OKP key)', () => {
    expect(jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: RFC8037.x })).toBe(RFC8037.thumbprint);
    expect(importPublicJwk({ kty: 'OKP', crv: 'Ed25519', x: RFC8037.x, alg: 'Ed25519' }).thumbprint).toBe(
      RFC8037.thumbprint,
    );
  });

  it('RFC 8037 A.4 signature, deterministic Ed25519', () => {
    const pair = importPrivateJwk({ kty: 'OKP', crv: 'Ed25519', x: RFC8037.x, d: RFC8037.d, alg: 'Ed25519' });
    expect(pair.jwk.x).toBe(RFC8037.x);
    const sig = signBytes(pair, Buffer.from(RFC8037.signingInput));
    expect(sig.toString('base64url')).toBe(RFC8037.signature);
    expect(verifyBytes(pair, Buffer.from(RFC8037.signingInput), sig)).toBe(true);
  });

  it('RFC 7638 §3.1 example thumbprint (RSA key)', () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    expect(jwkThumbprint({ kty: 'RSA', n, e: 'AQAB' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('RFC 7638 member order for EC keys matches a hand-built canonical form', () => {
    const { jwk } = generateKeyPair('ES256');
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    expect(jwkThumbprint(jwk)).toBe(createHash('sha256').update(canonical).digest('base64url'));
    expect(jwkThumbprint(jwk, 'sha512')).toBe(createHash('sha512').update(canonical).digest('base64url'));
  });
});

describe('checkPublicJwk: Algorithm Determination (§Signature Algorithms; Signature-Key §3.3)', () => {
  it('accepts Ed25519 and ES256 keys and keeps only public members', () => {
    const jwk = { ...ed(), kid: 'k1', use: 'sig', extra: 'dropped' };
    expect(checkPublicJwk(jwk)).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: jwk.x,
      alg: 'Ed25519',
      kid: 'k1',
      use: 'sig',
    });
    const p256 = ec();
    expect(checkPublicJwk(p256)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', y: p256.y });
  });

  it('MUST reject a key whose alg is absent', () => {
    const { alg: _alg, ...noAlg } = ed();
    expect(problemOf(() => checkPublicJwk(noAlg))).toBe('missing_alg');
  });

  it.each([['EdDSA'], ['none'], ['HS256'], ['Ed448'], ['ES384'], ['RS256'], ['ML-DSA-65'], ['made-up']])(
    'refuses alg %s as unsupported',
    (alg) => {
      expect(problemOf(() => checkPublicJwk({ ...ed(), alg }))).toBe('unsupported');
    },
  );

  it('refuses symmetric keys', () => {
    expect(problemOf(() => checkPublicJwk({ kty: 'oct', k: 'AAAA', alg: 'Ed25519' }))).toBe('unsupported');
  });

  it('MUST reject a key whose kty or crv disagrees with its alg', () => {
    expect(problemOf(() => checkPublicJwk({ ...ed(), alg: 'ES256' }))).toBe('inconsistent');
    expect(problemOf(() => checkPublicJwk({ ...ec(), alg: 'Ed25519' }))).toBe('inconsistent');
    expect(problemOf(() => checkPublicJwk({ ...ed(), crv: 'X25519' }))).toBe('inconsistent');
    expect(problemOf(() => checkPublicJwk({ ...ec(), crv: 'P-384' }))).toBe('inconsistent');
  });

  it.each([
    ['not an object', 'jwk'],
    ['an array', []],
    ['a non-string alg', { ...ed(), alg: 1 }],
    ['no crv', { kty: 'OKP', x: ed().x, alg: 'Ed25519' }],
    ['a private member', { ...ed(), d: 'AAAA' }],
    ['x missing', { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' }],
    ['x not base64url', { ...ed(), x: 'a+b/' }],
    ['x padded', { ...ed(), x: `${ed().x}=` }],
    ['x too short', { ...ed(), x: 'AAAA' }],
    ['y missing on EC', { ...ec(), y: undefined }],
    ['y too short', { ...ec(), y: 'AAAA' }],
  ])('refuses %s as malformed', (_name, jwk) => {
    expect(problemOf(() => checkPublicJwk(jwk))).toBe('malformed');
  });

  it('refuses a non-canonical base64url x or y, so one key has one thumbprint', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const flipStrayBit = (s: string) => s.slice(0, -1) + alphabet[alphabet.indexOf(s.at(-1)!) ^ 1];
    const okp = ed();
    expect(problemOf(() => importPublicJwk({ ...okp, x: flipStrayBit(okp.x) }))).toBe('malformed');
    const p256 = ec();
    expect(problemOf(() => importPublicJwk({ ...p256, x: flipStrayBit(p256.x) }))).toBe('malformed');
    expect(problemOf(() => importPublicJwk({ ...p256, y: flipStrayBit(p256.y!) }))).toBe('malformed');
  });

  it('refuses an EC point that is not on the curve', () => {
    const p256 = ec();
    const y = Buffer.from(p256.y!, 'base64url');
    y[31]! ^= 1;
    expect(problemOf(() => importPublicJwk({ ...p256, y: y.toString('base64url') }))).toBe('malformed');
  });

  it('never throws anything but KeyCheckError on arbitrary objects', () => {
    const member = fc.oneof(
      fc.string(),
      fc.constantFrom('OKP', 'EC', 'Ed25519', 'ES256', 'P-256', 'oct'),
      fc.integer(),
    );
    const jwk = fc.record(
      { kty: member, crv: member, x: member, y: member, alg: member, d: member },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(jwk, fc.anything()), (input) => {
        try {
          importPublicJwk(input);
        } catch (err) {
          expect(err).toBeInstanceOf(KeyCheckError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('keyCheckToSignatureError (§Verification step 6)', () => {
  it('maps missing and unsupported alg to unsupported_algorithm with Accept-Signature-Alg', () => {
    const err = keyCheckToSignatureError(new KeyCheckError('unsupported', 'alg EdDSA'));
    expect(err).toBeInstanceOf(UnsupportedAlgorithm);
    expect(err.status).toBe(401);
    expect(err.error).toBe('unsupported_algorithm');
    expect(err.acceptAlgs).toEqual(['Ed25519', 'ES256']);
    expect(keyCheckToSignatureError(new KeyCheckError('missing_alg', 'x')).error).toBe(
      'unsupported_algorithm',
    );
  });

  it('maps inconsistent and malformed keys to invalid_key', () => {
    for (const problem of ['inconsistent', 'malformed'] as const) {
      const err = keyCheckToSignatureError(new KeyCheckError(problem, 'x'));
      expect(err).toBeInstanceOf(InvalidKey);
      expect(err.error).toBe('invalid_key');
      expect(err.acceptAlgs).toBeUndefined();
    }
  });
});

describe('key pairs, signing and JWKS', () => {
  it.each(['Ed25519', 'ES256'] as const)('%s signs and verifies; any bit flip fails', (alg) => {
    const pair = generateKeyPair(alg, 'kid-1');
    expect(pair.kid).toBe('kid-1');
    expect(pair.jwk).toMatchObject({ alg, kid: 'kid-1' });
    const data = Buffer.from('signature base');
    const sig = signBytes(pair, data);
    expect(sig).toHaveLength(64);
    expect(verifyBytes(pair, data, sig)).toBe(true);
    fc.assert(
      fc.property(fc.nat({ max: 63 }), fc.nat({ max: 7 }), (i, bit) => {
        const bad = Buffer.from(sig);
        bad[i]! ^= 1 << bit;
        expect(verifyBytes(pair, data, bad)).toBe(false);
      }),
      { numRuns: 50 },
    );
    expect(verifyBytes(pair, Buffer.from('other'), sig)).toBe(false);
    expect(verifyBytes(pair, data, Buffer.alloc(3))).toBe(false);
  });

  it('verifies with the imported public JWK and the same thumbprint', () => {
    const pair = generateKeyPair('ES256');
    const imported = importPublicJwk(pair.jwk);
    expect(imported.thumbprint).toBe(pair.thumbprint);
    const sig = signBytes(pair, Buffer.from('x'));
    expect(verifyBytes(imported, Buffer.from('x'), sig)).toBe(true);
  });

  it.each(['Ed25519', 'ES256'] as const)('%s private JWK export/import round-trips', (alg) => {
    const pair = generateKeyPair(alg);
    const exported = exportPrivateJwk(pair);
    expect(exported).toMatchObject({ alg, kid: pair.kid });
    const back = importPrivateJwk(exported);
    expect(back.thumbprint).toBe(pair.thumbprint);
    expect(back.kid).toBe(pair.kid);
    expect(verifyBytes(pair, Buffer.from('m'), signBytes(back, Buffer.from('m')))).toBe(true);
    const { kid: _kid, ...noKid } = exported;
    expect(importPrivateJwk(noKid).kid).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });

  it('importPrivateJwk refuses a key without d or without alg', () => {
    const exported = exportPrivateJwk(generateKeyPair());
    const { d: _d, ...noD } = exported;
    expect(problemOf(() => importPrivateJwk(noD))).toBe('malformed');
    const { alg: _alg, ...noAlg } = exported;
    expect(problemOf(() => importPrivateJwk(noAlg))).toBe('missing_alg');
    expect(problemOf(() => importPrivateJwk({ ...exported, d: 'AAAA' }))).toBe('malformed');
  });

  it('the public key derived by node agrees with the JWK', () => {
    const pair = generateKeyPair();
    const fromPrivate = createPublicKey(
      createPrivateKey({ key: { ...exportPrivateJwk(pair) }, format: 'jwk' }),
    );
    expect((fromPrivate.export({ format: 'jwk' }) as { x: string }).x).toBe(pair.jwk.x);
  });

  it('toPublicJwks publishes only public members with alg and kid', () => {
    const a = generateKeyPair('Ed25519', 'a');
    const b = generateKeyPair('ES256', 'b');
    const jwks = toPublicJwks([a, b]);
    expect(jwks.keys).toHaveLength(2);
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'x']);
    expect(Object.keys(jwks.keys[1]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'x', 'y']);
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
  });
});
