import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../errors.js';
import { DEV, STRICT } from '../identifiers.js';
import { type AAuthRequirement, parseAAuthRequirement, serializeAAuthRequirement } from './requirement.js';

function expectInvalidRequest(fn: () => unknown): void {
  expect(fn).toThrow(InvalidRequest);
  try {
    fn();
  } catch (err) {
    expect((err as InvalidRequest).status).toBe(400);
    expect((err as InvalidRequest).error).toBe('invalid_request');
  }
}

describe('parseAAuthRequirement (§AAuth-Requirement Header Structure)', () => {
  it.each(['agent-token', 'person-token', 'approval', 'clarification', 'claims'] as const)(
    'reads requirement=%s',
    (requirement) => {
      expect(parseAAuthRequirement(`requirement=${requirement}`)).toEqual({ requirement });
    },
  );

  it('reads auth-token with its resource-token (§Auth Token Required)', () => {
    expect(parseAAuthRequirement('requirement=auth-token; resource-token="eyJ.a.b"')).toEqual({
      requirement: 'auth-token',
      'resource-token': 'eyJ.a.b',
    });
  });

  it('reads the §Interaction Required example', () => {
    const value = 'requirement=interaction; url="https://example.com/interact"; code="A1B2-C3D4"';
    expect(parseAAuthRequirement(value)).toEqual({
      requirement: 'interaction',
      url: 'https://example.com/interact',
      code: 'A1B2-C3D4',
    });
  });

  it('ignores unknown parameters and members ("Recipients MUST ignore unknown parameters")', () => {
    expect(parseAAuthRequirement('requirement=approval;x=1;y="z", other=?0')).toEqual({
      requirement: 'approval',
    });
    expect(parseAAuthRequirement('requirement=auth-token;resource-token="t";extra=2')).toEqual({
      requirement: 'auth-token',
      'resource-token': 't',
    });
  });

  it('keeps an unregistered requirement as unknown (§Requirement Values: surfaced, not satisfiable)', () => {
    expect(parseAAuthRequirement('requirement=payment-proof; amount=5; note="x"')).toEqual({
      requirement: 'unknown',
      value: 'payment-proof',
      params: { amount: 5, note: 'x' },
    });
  });

  it('returns undefined when absent', () => {
    expect(parseAAuthRequirement(undefined)).toBeUndefined();
  });

  it.each([
    ['no requirement member', 'resource-token="x"'],
    ['requirement as String', 'requirement="auth-token"'],
    ['requirement as Inner List', 'requirement=(auth-token)'],
    ['auth-token without resource-token (MUST include)', 'requirement=auth-token'],
    ['auth-token with resource-token as Token', 'requirement=auth-token;resource-token=abc'],
    ['auth-token with empty resource-token', 'requirement=auth-token;resource-token=""'],
    ['interaction without url', 'requirement=interaction;code="A1B2-C3D4"'],
    ['interaction without code', 'requirement=interaction;url="https://ps.example/i"'],
    ['interaction with http url', 'requirement=interaction;url="http://ps.example/i";code="A1B2C3D4"'],
    ['interaction url with query', 'requirement=interaction;url="https://ps.example/i?a=1";code="A1B2C3D4"'],
    ['interaction url with fragment', 'requirement=interaction;url="https://ps.example/i#f";code="A1B2C3D4"'],
    [
      'interaction code outside the alphabet',
      'requirement=interaction;url="https://ps.example/i";code="A1B2-C3DU"',
    ],
    ['interaction code too short', 'requirement=interaction;url="https://ps.example/i";code="A1B2C3D"'],
    ['interaction code with &', 'requirement=interaction;url="https://ps.example/i";code="A1B2C3D4&x=1"'],
    ['malformed Dictionary', 'requirement=approval;'],
  ])('rejects %s with InvalidRequest (§Interaction Required, §Auth Token Required)', (_name, value) => {
    expectInvalidRequest(() => parseAAuthRequirement(value));
  });

  it('admits a loopback http interaction url only in development mode', () => {
    const value = 'requirement=interaction;url="http://localhost:3001/interaction";code="A1B2-C3D4"';
    expectInvalidRequest(() => parseAAuthRequirement(value, STRICT));
    expect(parseAAuthRequirement(value, DEV)).toMatchObject({ url: 'http://localhost:3001/interaction' });
    expectInvalidRequest(() =>
      parseAAuthRequirement('requirement=interaction;url="http://evil.example/i";code="A1B2-C3D4"', DEV),
    );
  });

  it('never throws anything but InvalidRequest on arbitrary input', () => {
    const header = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.string({
        unit: fc.constantFrom(
          ...'requirement=auth-token;resource-token interaction url code"https://a/?#,()A1-',
        ),
      }),
    );
    fc.assert(
      fc.property(header, (value) => {
        try {
          parseAAuthRequirement(value);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('serializeAAuthRequirement', () => {
  it('writes the spec examples', () => {
    expect(serializeAAuthRequirement({ requirement: 'agent-token' })).toBe('requirement=agent-token');
    expect(serializeAAuthRequirement({ requirement: 'auth-token', 'resource-token': 'eyJ...' })).toBe(
      'requirement=auth-token;resource-token="eyJ..."',
    );
    expect(
      serializeAAuthRequirement({
        requirement: 'interaction',
        url: 'https://example.com/interact',
        code: 'A1B2-C3D4',
      }),
    ).toBe('requirement=interaction;url="https://example.com/interact";code="A1B2-C3D4"');
  });

  it('refuses what the spec forbids', () => {
    expect(() => serializeAAuthRequirement({ requirement: 'auth-token', 'resource-token': '' })).toThrow(
      TypeError,
    );
    expect(() =>
      serializeAAuthRequirement({
        requirement: 'interaction',
        url: 'https://a.example/i?x=1',
        code: 'A1B2-C3D4',
      }),
    ).toThrow(TypeError);
    expect(() =>
      serializeAAuthRequirement({ requirement: 'interaction', url: 'http://a.example/i', code: 'A1B2-C3D4' }),
    ).toThrow(TypeError);
    expect(() =>
      serializeAAuthRequirement({
        requirement: 'interaction',
        url: 'https://a.example/i',
        code: 'a1b2-c3d4',
      }),
    ).toThrow(TypeError);
    expect(() =>
      serializeAAuthRequirement({ requirement: 'unknown', value: 'approval', params: {} }),
    ).toThrow(TypeError);
    expect(() =>
      serializeAAuthRequirement({ requirement: 'auth-token', 'resource-token': 'non-ascii é' }),
    ).toThrow(TypeError);
  });

  it('admits a loopback interaction url in development mode', () => {
    const req = {
      requirement: 'interaction',
      url: 'http://127.0.0.1:3003/interaction',
      code: 'A1B2C3D4',
    } as const;
    expect(() => serializeAAuthRequirement(req)).toThrow(TypeError);
    expect(parseAAuthRequirement(serializeAAuthRequirement(req, DEV), DEV)).toEqual(req);
  });

  const crockford = fc.constantFrom(...'0123456789ABCDEFGHJKMNPQRSTVWXYZ');
  const code = fc
    .tuple(fc.array(crockford, { minLength: 8, maxLength: 16 }), fc.boolean())
    .map(([chars, grouped]) => (grouped ? chars.join('').replace(/(.{4})(?=.)/g, '$1-') : chars.join('')));
  const path = fc.stringMatching(/^(\/[a-z0-9._~-]{1,10}){0,3}$/);
  const host = fc.stringMatching(/^[a-z][a-z0-9]{0,10}\.example$/);
  const model: fc.Arbitrary<AAuthRequirement> = fc.oneof(
    fc.constantFrom<AAuthRequirement>(
      { requirement: 'agent-token' },
      { requirement: 'person-token' },
      { requirement: 'approval' },
      { requirement: 'clarification' },
      { requirement: 'claims' },
    ),
    fc
      .stringMatching(/^[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,40}$/)
      .map((t): AAuthRequirement => ({ requirement: 'auth-token', 'resource-token': t })),
    fc
      .tuple(host, path, code)
      .map(
        ([h, p, c]): AAuthRequirement => ({ requirement: 'interaction', url: `https://${h}${p}`, code: c }),
      ),
    fc
      .tuple(
        fc
          .stringMatching(/^[a-z][a-z0-9-]{0,15}$/)
          .filter(
            (v) =>
              ![
                'agent-token',
                'person-token',
                'auth-token',
                'interaction',
                'approval',
                'clarification',
                'claims',
              ].includes(v),
          ),
        fc.dictionary(
          fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
          fc.oneof(fc.integer(), fc.boolean(), fc.stringMatching(/^[ -~]{0,10}$/)),
        ),
      )
      .map(([value, params]): AAuthRequirement => ({ requirement: 'unknown', value, params })),
  );

  it('round-trips generated models', () => {
    fc.assert(
      fc.property(model, (req) => {
        expect(parseAAuthRequirement(serializeAAuthRequirement(req))).toEqual(req);
      }),
      { numRuns: 500 },
    );
  });
});
