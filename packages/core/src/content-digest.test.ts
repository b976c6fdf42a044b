import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../test/vectors/rfc9530.json' with { type: 'json' };
import { computeContentDigest, type DigestAlgorithm, verifyContentDigest } from './content-digest.js';
import { InvalidRequest } from './errors.js';

const body = (s: string) => new TextEncoder().encode(s);

describe('Content-Digest known answers (RFC 9530, test/vectors/rfc9530.json)', () => {
  it.each(vectors.vectors)('$name', (v) => {
    const algorithm = v.algorithm as DigestAlgorithm;
    expect(computeContentDigest(body(v.body), [algorithm])).toBe(v.header);
    expect(v.header).toBe(`${v.algorithm}=:${v.digest}:`);
    expect(verifyContentDigest(v.header, body(v.body))).toEqual([algorithm]);
  });

  it('verifies a header carrying both algorithms', () => {
    const header = vectors.vectors.map((v) => v.header).join(', ');
    expect(verifyContentDigest(header, body('{"hello": "world"}'))).toEqual(['sha-256', 'sha-512']);
    expect(computeContentDigest(body('{"hello": "world"}'), ['sha-256', 'sha-512'])).toBe(header);
  });
});

describe('computeContentDigest', () => {
  it('refuses algorithms it does not implement, and an empty list', () => {
    expect(() => computeContentDigest(body('x'), ['md5' as DigestAlgorithm])).toThrow(TypeError);
    expect(() => computeContentDigest(body('x'), ['toString' as DigestAlgorithm])).toThrow(TypeError);
    expect(() => computeContentDigest(body('x'), [])).toThrow(TypeError);
  });
});

describe('verifyContentDigest', () => {
  const hello = body('{"hello": "world"}');
  const sha256 = vectors.vectors[0]!.header;

  it('ignores algorithms it does not support when a supported one is present', () => {
    expect(verifyContentDigest(`md5=:AAAA:, unixsum=7, ${sha256}`, hello)).toEqual(['sha-256']);
  });

  it('accepts several field lines', () => {
    expect(verifyContentDigest(['md5=:AAAA:', sha256], hello)).toEqual(['sha-256']);
  });

  it.each([
    ['absent', undefined],
    ['malformed', 'sha-256=X48E'],
    ['unknown algorithms only', 'md5=:AAAA:, sha=:AAAA:'],
    [
      'a supported member that is not a Byte Sequence',
      'sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="',
    ],
    ['a truncated digest', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9D:'],
    ['an empty digest', 'sha-256=::'],
  ])('rejects %s with InvalidRequest', (_name, header) => {
    expect(() => verifyContentDigest(header, hello)).toThrow(InvalidRequest);
  });

  it('rejects a mismatch, even when the other algorithm matches', () => {
    expect(() => verifyContentDigest(sha256, body('{"hello": "world"}\n'))).toThrow(
      'Content-Digest does not match the request body',
    );
    const badSha512 = `sha-512=:${Buffer.alloc(64).toString('base64')}:`;
    expect(() => verifyContentDigest(`${sha256}, ${badSha512}`, hello)).toThrow(InvalidRequest);
  });

  it('round-trips and rejects any change to the body', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.subarray(['sha-256', 'sha-512'] as DigestAlgorithm[], { minLength: 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (bytes, algs, index, bit) => {
          const header = computeContentDigest(bytes, algs);
          expect(verifyContentDigest(header, bytes)).toEqual(algs);
          if (bytes.length === 0) return;
          const tampered = Uint8Array.from(bytes);
          tampered[index % bytes.length]! ^= 1 << bit;
          expect(() => verifyContentDigest(header, tampered)).toThrow(InvalidRequest);
        },
      ),
    );
  });

  it('never throws anything but InvalidRequest on arbitrary headers', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: fc.constantFrom(...'sha-256512=:AQIX48/+=,;"md') }),
        ),
        (header) => {
          try {
            verifyContentDigest(header, hello);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidRequest);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
