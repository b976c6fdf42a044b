import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError, SignatureError } from '../../src/errors.js';
import type { SignedRequestInput } from '../../src/httpsig/types.js';
import { createHarness, signedByAgent, verify } from './helpers.js';

/** Flips one bit of a string, keeping it a string (the request as an attacker could deliver it). */
function flipBit(value: string, bit: number): string {
  const bytes = Buffer.from(value, 'latin1');
  const index = Math.floor(bit / 8) % bytes.length;
  bytes[index]! ^= 1 << (bit % 8);
  return bytes.toString('latin1');
}

type Part = 'method' | 'path' | 'authorization' | 'content-type' | 'signature' | 'signature-key' | 'body';

function mutate(request: SignedRequestInput, part: Part, bit: number): SignedRequestInput {
  const headers = request.headers as Record<string, string>;
  switch (part) {
    case 'method':
      return { ...request, method: flipBit(request.method, bit) };
    case 'path': {
      const url = new URL(request.url);
      return { ...request, url: `${url.origin}${flipBit(url.pathname, bit)}` };
    }
    case 'body': {
      const body = Buffer.from(request.body!);
      body[Math.floor(bit / 8) % body.length]! ^= 1 << (bit % 8);
      return { ...request, body };
    }
    case 'signature': {
      // Flip a bit of the signature bytes themselves, then re-encode.
      const match = /^sig=:([^:]*):$/.exec(headers.signature!)!;
      const bytes = Buffer.from(match[1]!, 'base64');
      bytes[Math.floor(bit / 8) % bytes.length]! ^= 1 << (bit % 8);
      return { ...request, headers: { ...headers, signature: `sig=:${bytes.toString('base64')}:` } };
    }
    default:
      return { ...request, headers: { ...headers, [part]: flipBit(headers[part]!, bit) } };
  }
}

describe('any single-bit change of a covered part is rejected (fast-check)', () => {
  const h = createHarness();
  const original = signedByAgent(h, {
    method: 'POST',
    url: 'https://resource.example/api/items',
    headers: { 'content-type': 'application/json', authorization: 'AAuth session-token' },
    body: '{"name":"widget"}',
  });

  it('the unmodified request verifies', async () => {
    expect(await verify(h, original, { requireBodyComponents: true })).toBeDefined();
  });

  it('rejects with a SignatureError, never anything else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Part>(
          'method',
          'path',
          'authorization',
          'content-type',
          'signature',
          'signature-key',
          'body',
        ),
        fc.nat(4096),
        async (part, bit) => {
          const tampered = mutate(original, part, bit);
          let caught: unknown;
          try {
            await verify(h, tampered, { requireBodyComponents: true });
          } catch (err) {
            caught = err;
          }
          expect(caught).toBeInstanceOf(AAuthError);
          expect(caught).toBeInstanceOf(SignatureError);
        },
      ),
      { numRuns: 600 },
    );
  });
});

describe('arbitrary signature headers never throw anything but a SignatureError (fast-check)', () => {
  const h = createHarness();
  const valid = signedByAgent(h);
  const headerArb = fc.oneof(
    fc.string(),
    fc.constantFrom(
      String(valid.headers['signature-input']),
      String(valid.headers.signature),
      String(valid.headers['signature-key']),
      'sig=("@method" "@query-param";name="x" "x-h";key="a" "@status");created=1',
      'sig=("@target-uri" "@request-target" "@scheme" "@query" "x";bs);created=99999999999999',
    ),
  );

  it('holds for any combination of the three headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(headerArb),
        fc.option(headerArb),
        fc.option(headerArb),
        async (input, sig, key) => {
          const request = {
            ...valid,
            headers: {
              host: 'resource.example',
              'signature-input': input ?? undefined,
              signature: sig ?? undefined,
              'signature-key': key ?? undefined,
            },
          };
          try {
            await verify(h, request, { schemes: ['jwt', 'hwk', 'jwks_uri', 'jkt-jwt'] });
          } catch (err) {
            expect(err).toBeInstanceOf(SignatureError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
