import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REGISTERED_SCHEMES } from '../httpsig/types.js';
import { SUPPORTED_ALGS } from '../jwk.js';
import {
  parseAcceptSignatureAlg,
  parseAcceptSignatureScheme,
  serializeAcceptSignatureAlg,
  serializeAcceptSignatureScheme,
} from './accept-signature.js';

describe('Accept-Signature-Scheme (Signature-Key §4.1)', () => {
  it('serializes a List of Tokens in preference order', () => {
    expect(serializeAcceptSignatureScheme(['hwk', 'jwks_uri', 'jwt'])).toBe('hwk, jwks_uri, jwt');
    expect(serializeAcceptSignatureScheme(['jwt'])).toBe('jwt');
  });

  it('parses in order, ignoring unknown tokens ("A client MUST ignore tokens it does not recognize")', () => {
    expect(parseAcceptSignatureScheme('future-scheme, jwks_uri, jwt;q=1, "hwk", (x509)')).toEqual([
      'jwks_uri',
      'jwt',
    ]);
  });

  it('combines field lines and drops repeats', () => {
    expect(parseAcceptSignatureScheme(['jwt', 'hwk, jwt'])).toEqual(['jwt', 'hwk']);
  });

  it('reads an absent or malformed field as empty (RFC 8941 §2)', () => {
    expect(parseAcceptSignatureScheme(undefined)).toEqual([]);
    expect(parseAcceptSignatureScheme('jwt,,')).toEqual([]);
    expect(parseAcceptSignatureScheme('"unterminated')).toEqual([]);
  });

  it('rejects a value that is not a Token when serializing', () => {
    expect(() => serializeAcceptSignatureScheme(['not a token'])).toThrow(TypeError);
  });

  it('round-trips any subset of registered schemes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...REGISTERED_SCHEMES)), (schemes) => {
        expect(parseAcceptSignatureScheme(serializeAcceptSignatureScheme(schemes))).toEqual(schemes);
      }),
    );
  });
});

describe('Accept-Signature-Alg (Signature-Key §4.2, docs/spec-decisions.md Vocabulary)', () => {
  it('sends JOSE identifiers', () => {
    expect(serializeAcceptSignatureAlg(SUPPORTED_ALGS)).toBe('Ed25519, ES256');
  });

  it('parses the HTTP Signature Algorithms vocabulary into JOSE identifiers', () => {
    expect(parseAcceptSignatureAlg('ed25519, ecdsa-p256-sha256')).toEqual(['Ed25519', 'ES256']);
    expect(parseAcceptSignatureAlg('ecdsa-p256-sha256')).toEqual(['ES256']);
  });

  it('parses JOSE identifiers as they are', () => {
    expect(parseAcceptSignatureAlg('ES256, Ed25519')).toEqual(['ES256', 'Ed25519']);
  });

  it('ignores algorithms it does not implement or recognise, and duplicates across vocabularies', () => {
    expect(parseAcceptSignatureAlg('ML-DSA-65, rsa-v1_5-sha256, ed25519, Ed25519, EdDSA, ES384')).toEqual([
      'Ed25519',
    ]);
  });

  it('is case-sensitive, as Tokens are', () => {
    expect(parseAcceptSignatureAlg('ED25519, es256')).toEqual([]);
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...SUPPORTED_ALGS)), (algs) => {
        expect(parseAcceptSignatureAlg(serializeAcceptSignatureAlg(algs))).toEqual(algs);
      }),
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: fc.constantFrom(...'ed25519,ecdsa-p256-sha256 ;()"jwt:*') }),
          fc.array(fc.string(), { maxLength: 3 }),
        ),
        (value) => {
          parseAcceptSignatureAlg(value);
          parseAcceptSignatureScheme(value);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
