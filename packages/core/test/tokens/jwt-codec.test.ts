import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TokenKind } from '../../src/tokens/claims.js';
import {
  decodeCompactJws,
  decodeJwtUnverified,
  encodeSigningInput,
  MAX_JWT_LENGTH,
  serializeCompactJws,
} from '../../src/tokens/jwt-codec.js';
import { TokenVerificationError } from '../../src/tokens/token-error.js';
import { createWorld } from './helpers.js';

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

function expectMalformed(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVerificationError);
    expect((err as TokenVerificationError).reason).toBe('malformed');
    return;
  }
  throw new Error('expected a malformed JWT');
}

const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 });

describe('compact JWS codec', () => {
  it('round-trips header and payload', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, fc.uint8Array({ minLength: 1, maxLength: 96 }), (h, p, sig) => {
        const header = { ...h, alg: 'Ed25519', typ: 'aa-agent+jwt' };
        delete (header as Record<string, unknown>).crit;
        const input = encodeSigningInput(header, p);
        const jwt = serializeCompactJws(input, sig);
        const decoded = decodeCompactJws(jwt);
        expect(decoded.header).toEqual(JSON.parse(JSON.stringify(header)));
        expect(decoded.payload).toEqual(JSON.parse(JSON.stringify(p)));
        expect(decoded.signingInput).toBe(input);
        expect(Buffer.compare(decoded.signature, Buffer.from(sig))).toBe(0);
      }),
    );
  });

  it('arbitrary input never throws anything but a malformed TokenVerificationError', () => {
    const threeParts = fc
      .tuple(
        fc.oneof(fc.string(), jsonObject.map(b64), fc.jsonValue().map(b64)),
        fc.oneof(fc.string(), jsonObject.map(b64), fc.jsonValue().map(b64)),
        fc.oneof(
          fc.string(),
          fc.uint8Array().map((u) => Buffer.from(u).toString('base64url')),
        ),
      )
      .map((parts) => parts.join('.'));
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), threeParts, fc.anything()),
        (input) => {
          try {
            decodeJwtUnverified(input);
          } catch (err) {
            expect(err).toBeInstanceOf(TokenVerificationError);
            expect((err as TokenVerificationError).reason).toBe('malformed');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('refuses padding, non-canonical base64url, arrays, oversize and extra parts', () => {
    const h = b64({ alg: 'Ed25519', typ: 'aa-agent+jwt' });
    const p = b64({});
    expectMalformed(() => decodeCompactJws(`${h}.${p}.AAAA==`));
    expectMalformed(() => decodeCompactJws(`${h}.${p}.AB`)); // spare bits set: not canonical
    expectMalformed(() => decodeCompactJws(`${b64([1])}.${p}.AA`));
    expectMalformed(() => decodeCompactJws(`${h}.${b64('null')}.AA`));
    expectMalformed(() => decodeCompactJws(`${h}.${p}.AA.AA`));
    expectMalformed(() => decodeCompactJws(`${h}.${p}.${'A'.repeat(MAX_JWT_LENGTH)}`));
    expectMalformed(() => decodeCompactJws(`${b64({ typ: 'x' })}.${p}.AA`));
    expect(decodeCompactJws(`${h}.${p}.AA`).signature).toEqual(Buffer.from([0]));
  });
});

describe('property: any single-bit change of a valid token is rejected', () => {
  for (const kind of ['agent', 'auth'] as TokenKind[]) {
    for (const part of ['payload', 'signature'] as const) {
      it(`${kind} token, bit flipped in the ${part}`, async () => {
        const w = createWorld('Ed25519');
        const verifier = w.newVerifier({ cacheSize: 0 });
        const jwt = w.issue(kind);
        await verifier.verify(jwt, { kinds: [kind] });
        const [h, p, s] = jwt.split('.') as [string, string, string];
        const bytes = Buffer.from(part === 'payload' ? p : s, 'base64url');
        await fc.assert(
          fc.asyncProperty(fc.nat({ max: bytes.length * 8 - 1 }), async (bit) => {
            const flipped = Buffer.from(bytes);
            flipped[bit >> 3]! ^= 1 << (bit & 7);
            const segment = flipped.toString('base64url');
            const mutated = part === 'payload' ? `${h}.${segment}.${s}` : `${h}.${p}.${segment}`;
            const err = await verifier.verify(mutated, { kinds: [kind] }).then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(err).toBeInstanceOf(TokenVerificationError);
          }),
          { numRuns: 150 },
        );
      });
    }
  }

  it('an arbitrary three-part token never reaches the resolver with a junk header', async () => {
    const w = createWorld();
    await fc.assert(
      fc.asyncProperty(jsonObject, jsonObject, async (h, p) => {
        const jwt = `${b64(h)}.${b64(p)}.AA`;
        const err = await w.verifier.verify(jwt, { kinds: ['agent', 'person', 'resource', 'auth'] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TokenVerificationError);
      }),
    );
    expect(w.resolver.calls).toHaveLength(0);
  });
});
