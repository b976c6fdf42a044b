import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../errors.js';
import {
  formatAuthorizationAAuth,
  generateSessionToken,
  isToken68,
  parseAAuthAccess,
  parseAuthorizationAAuth,
  serializeAAuthAccess,
} from './aauth-access.js';

function expectInvalidRequest(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(InvalidRequest);
  expect((thrown as InvalidRequest).status).toBe(400);
  expect((thrown as InvalidRequest).error).toBe('invalid_request');
}

describe('token68 (RFC 9110 §11.2)', () => {
  it.each(['abc', 'a-b.c_d~e+f/g', 'abc=', 'abc==', 'A1', 'wrapped-session-token-value'])(
    'accepts %s',
    (v) => {
      expect(isToken68(v)).toBe(true);
    },
  );
  it.each(['', '=', '==abc', 'a=b', 'a b', 'a,b', 'a\tb', 'a\nb', 'a\u0000b', 'a"b', 'é', 'a;b'])(
    'rejects %j',
    (v) => {
      expect(isToken68(v)).toBe(false);
    },
  );
});

describe('parseAAuthAccess (§AAuth-Access Response Header)', () => {
  it('reads a session token', () => {
    expect(parseAAuthAccess('wrapped-session-token-value')).toBe('wrapped-session-token-value');
    expect(parseAAuthAccess(' tok== ')).toBe('tok==');
    expect(parseAAuthAccess(['tok'])).toBe('tok');
  });

  it('returns undefined when absent', () => {
    expect(parseAAuthAccess(undefined)).toBeUndefined();
    expect(parseAAuthAccess([])).toBeUndefined();
  });

  it.each([
    ['an empty value', ''],
    ['only whitespace', '   '],
    ['embedded whitespace', 'abc def'],
    ['an embedded tab', 'abc\tdef'],
    ['a control character', 'abc\u0001def'],
    ['a comma-joined second credential', 'abc, def'],
    ['two field lines', ['abc', 'def']],
    ['a quoted value', '"abc"'],
  ])('MUST reject %s', (_name, value) => {
    expectInvalidRequest(() => parseAAuthAccess(value));
  });
});

describe('parseAuthorizationAAuth', () => {
  it('reads the credential (scheme case-insensitive)', () => {
    expect(parseAuthorizationAAuth('AAuth wrapped-session-token-value')).toBe('wrapped-session-token-value');
    expect(parseAuthorizationAAuth('aauth abc/+=')).toBe('abc/+=');
    expect(parseAuthorizationAAuth('AAUTH   abc')).toBe('abc');
  });

  it('leaves other schemes to the caller', () => {
    expect(parseAuthorizationAAuth('Bearer abc')).toBeUndefined();
    expect(parseAuthorizationAAuth('AAuthX abc')).toBeUndefined();
    expect(parseAuthorizationAAuth(undefined)).toBeUndefined();
  });

  it.each([
    ['no credential', 'AAuth'],
    ['an empty credential', 'AAuth '],
    ['embedded whitespace', 'AAuth abc def'],
    ['a tab separator', 'AAuth\tabc'],
    ['a control character', 'AAuth abc\u0000'],
    ['a comma-joined duplicate header', 'AAuth abc, AAuth def'],
    ['a second scheme joined', 'AAuth abc, Bearer xyz'],
    ['auth-params instead of token68', 'AAuth a=b'],
    ['two Authorization fields', ['AAuth abc', 'AAuth def']],
    ['two fields of different schemes', ['Bearer x', 'AAuth def']],
  ])('MUST reject %s', (_name, value) => {
    expectInvalidRequest(() => parseAuthorizationAAuth(value));
  });

  it('never throws anything but InvalidRequest on arbitrary input', () => {
    const header = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom(...'AAuth ab=,\t\u0000/+-Bearer') }),
      fc.string().map((s) => `AAuth ${s}`),
      fc.array(fc.string(), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(header, (value) => {
        for (const parse of [parseAuthorizationAAuth, parseAAuthAccess]) {
          try {
            const token = parse(value);
            if (token !== undefined) expect(isToken68(token)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidRequest);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('session token generation and serialization', () => {
  it('generates distinct token68 values', () => {
    const a = generateSessionToken();
    const b = generateSessionToken();
    expect(isToken68(a)).toBe(true);
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(() => generateSessionToken(8)).toThrow(RangeError);
  });

  it('round-trips through AAuth-Access and Authorization', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,60}={0,2}$/), (token) => {
        expect(parseAAuthAccess(serializeAAuthAccess(token))).toBe(token);
        expect(parseAuthorizationAAuth(formatAuthorizationAAuth(token))).toBe(token);
      }),
    );
    const token = generateSessionToken();
    expect(parseAuthorizationAAuth(formatAuthorizationAAuth(token))).toBe(token);
  });

  it('refuses to serialize a value that is not token68', () => {
    expect(() => serializeAAuthAccess('')).toThrow(TypeError);
    expect(() => formatAuthorizationAAuth('a b')).toThrow(TypeError);
  });
});
