import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AAuthError,
  InvalidInput,
  InvalidRequest,
  InvalidSignature,
  SIG_ERROR_TYPE_PREFIX,
  UnsupportedAlgorithm,
  UnsupportedScheme,
} from '../errors.js';
import { parseSignatureError, serializeSignatureError, signatureErrorHeaders } from './signature-error.js';

function expectInvalidRequest(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequest);
    expect((err as InvalidRequest).status).toBe(400);
    expect((err as InvalidRequest).error).toBe('invalid_request');
    return;
  }
  throw new Error('expected InvalidRequest');
}

/** Random strings, full Unicode, and strings built from the characters that matter to this grammar. */
const arbitraryHeader = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom(...'error=invalid_input,required_ ;()"\\:?*1@-') }),
);

describe('parseSignatureError (Signature-Key §5.1)', () => {
  it('reads the error Token', () => {
    expect(parseSignatureError('error=unsupported_algorithm')).toEqual({ error: 'unsupported_algorithm' });
  });

  it('reads required_input as an Inner List of Strings (§5.4.5)', () => {
    const value =
      'error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key" "content-digest")';
    expect(parseSignatureError(value)).toEqual({
      error: 'invalid_input',
      required_input: ['@method', '@authority', '@path', 'signature-key', 'content-digest'],
    });
  });

  it('ignores unknown members and parameters ("Recipients MUST ignore unknown members")', () => {
    expect(parseSignatureError('error=invalid_key;why=1, detail="x", future=?1')).toEqual({
      error: 'invalid_key',
    });
  });

  it('keeps unregistered codes as sent', () => {
    expect(parseSignatureError('error=brand_new_code')).toEqual({ error: 'brand_new_code' });
  });

  it('combines several field lines', () => {
    expect(parseSignatureError(['error=invalid_input', 'required_input=("@method")'])).toEqual({
      error: 'invalid_input',
      required_input: ['@method'],
    });
  });

  it('returns undefined when absent', () => {
    expect(parseSignatureError(undefined)).toBeUndefined();
    expect(parseSignatureError([])).toBeUndefined();
  });

  it.each([
    ['no error member', 'required_input=("@method")'],
    ['error as String', 'error="invalid_key"'],
    ['error as Integer', 'error=4'],
    ['error as Inner List', 'error=(invalid_key)'],
    ['error as Boolean (bare key)', 'error'],
    ['required_input not an Inner List', 'error=invalid_input, required_input="@method"'],
    ['required_input with a Token', 'error=invalid_input, required_input=("@method" path)'],
    ['not a Dictionary', 'error=invalid_key,,'],
    ['empty', ''],
  ])('rejects %s with InvalidRequest', (_name, value) => {
    expectInvalidRequest(() => parseSignatureError(value));
  });

  it('never throws anything but InvalidRequest on arbitrary input', () => {
    fc.assert(
      fc.property(arbitraryHeader, (value) => {
        try {
          parseSignatureError(value);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('serializeSignatureError', () => {
  it('writes the §5.4.5 example', () => {
    expect(
      serializeSignatureError({
        error: 'invalid_input',
        required_input: ['@method', '@authority', '@path', 'signature-key', 'content-digest'],
      }),
    ).toBe(
      'error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key" "content-digest")',
    );
  });

  it('rejects a code that is not a Token', () => {
    expect(() => serializeSignatureError({ error: 'not a token' })).toThrow(TypeError);
    expect(() => serializeSignatureError({ error: 'x', required_input: ['é'] })).toThrow(TypeError);
  });

  const token = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/);
  const component = fc.stringMatching(/^[ -~]{0,20}$/);
  it('round-trips generated values', () => {
    fc.assert(
      fc.property(
        token,
        fc.option(fc.array(component, { maxLength: 6 }), { nil: undefined }),
        (error, required) => {
          const field = required === undefined ? { error } : { error, required_input: required };
          expect(parseSignatureError(serializeSignatureError(field))).toEqual(field);
        },
      ),
    );
  });
});

describe('signatureErrorHeaders', () => {
  it('yields signature-error alone when nothing is accepted', () => {
    expect(signatureErrorHeaders(new InvalidSignature('bad'))).toEqual({
      'signature-error': 'error=invalid_signature',
    });
  });

  it('adds accept-signature-scheme for unsupported_scheme (§4.4, protocol §Signature-Key Scheme Rejection)', () => {
    const err = new UnsupportedScheme('no', { acceptSchemes: ['jwt'] });
    expect(signatureErrorHeaders(err)).toEqual({
      'signature-error': 'error=unsupported_scheme',
      'accept-signature-scheme': 'jwt',
    });
  });

  it('adds accept-signature-alg in JOSE identifiers for unsupported_algorithm', () => {
    const err = new UnsupportedAlgorithm('no', { acceptAlgs: ['Ed25519', 'ES256'] });
    expect(signatureErrorHeaders(err)).toEqual({
      'signature-error': 'error=unsupported_algorithm',
      'accept-signature-alg': 'Ed25519, ES256',
    });
  });

  it('carries required_input, matching the problem+json body', () => {
    const err = new InvalidInput('missing', { requiredInput: ['@method', 'signature-key'] });
    expect(signatureErrorHeaders(err)).toEqual({
      'signature-error': 'error=invalid_input, required_input=("@method" "signature-key")',
    });
    expect(err.toProblem()).toMatchObject({
      type: `${SIG_ERROR_TYPE_PREFIX}invalid_input`,
      status: 401,
      error: 'invalid_input',
      required_input: ['@method', 'signature-key'],
    });
    expect(err).toBeInstanceOf(AAuthError);
  });
});
