import fc from 'fast-check';
import { isInnerList, parseDictionary, serializeInnerList } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { parseSignatureInputMember, parseSignatureMember } from '../../src/httpsig/signature-fields.js';

/**
 * The fast readers of `Signature-Input` / `Signature` must agree with the generic RFC 8941 parser on
 * everything they accept, and the received Inner List must be its canonical serialization
 * (RFC 9421 §2.3), since the verifier signs over it as received.
 */

function genericMember(value: string) {
  const dictionary = parseDictionary(value);
  expect(dictionary.size).toBe(1);
  const [label, member] = [...dictionary][0]!;
  return { label, member };
}

// Pieces that are canonical, and near misses the fast path must hand to the generic parser.
const key = fc.oneof(
  { arbitrary: fc.constantFrom('sig', 'sig1', 'aauth', '*x', 'a-b.c_d', 'created', 'keyid'), weight: 6 },
  { arbitrary: fc.stringMatching(/^[a-zA-Z*0-9_.-]{1,6}$/), weight: 1 },
);
const text = fc.oneof(
  {
    arbitrary: fc.constantFrom('@method', '@authority', '@path', 'signature-key', 'content-digest'),
    weight: 6,
  },
  { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
);
const quoted = text.map((s) => `"${s}"`);
const integer = fc.oneof(
  fc.integer({ min: -1_000_000, max: 2_000_000_000 }).map(String),
  fc.constantFrom('0', '-0', '007', '999999999999999', '1000000000000000', '-999999999999999'),
);
const paramValue = fc.oneof(
  { arbitrary: integer, weight: 3 },
  { arbitrary: quoted, weight: 3 },
  { arbitrary: fc.constantFrom('?1', '?0', 'tok', '1.5', ':AA==:'), weight: 1 },
);
const param = fc
  .tuple(key, fc.option(paramValue, { nil: undefined, freq: 8 }))
  .map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`));
const space = fc.constantFrom('', '', '', '', ' ', '  ');
const innerList = fc
  .tuple(space, fc.array(quoted, { maxLength: 5 }), fc.constantFrom(' ', ' ', ' ', ' ', '  '), space)
  .map(([lead, items, sep, trail]) => `(${lead}${items.join(sep)}${trail})`);
const inputMember = fc
  .tuple(key, innerList, fc.array(param, { maxLength: 4 }))
  .map(([k, list, params]) => `${k}=${list}${params.join('')}`);
const signatureInputValue = fc
  .tuple(
    fc.oneof(
      { arbitrary: inputMember.map((m) => [m]), weight: 4 },
      { arbitrary: fc.array(inputMember, { minLength: 2, maxLength: 3 }), weight: 1 },
    ),
    fc.constantFrom(', ', ',', ' , '),
  )
  .map(([members, sep]) => members.join(sep));

const base64 = fc.uint8Array({ maxLength: 70 }).map((bytes) => Buffer.from(bytes).toString('base64'));
const looseBase64 = fc.oneof(
  base64,
  base64.map((b) => b.replace(/=+$/, '')),
  fc.stringMatching(/^[A-Za-z0-9+/=]{0,12}$/),
);
const signatureValue = fc
  .tuple(key, looseBase64, fc.constantFrom('', ';x=1', ', other=:AA==:'))
  .map(([k, b, tail]) => `${k}=:${b}:${tail}`);

describe('parseSignatureInputMember', () => {
  it('reads the Signature-Input every AAuth signer sends', () => {
    const value = 'sig=("@method" "@authority" "@path" "signature-key");created=1732910000;keyid="k1"';
    const fast = parseSignatureInputMember(value)!;
    expect(fast.label).toBe('sig');
    expect(fast.serialized).toBe(
      '("@method" "@authority" "@path" "signature-key");created=1732910000;keyid="k1"',
    );
    expect(fast.input[0].map(([name]) => name)).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect([...fast.input[1]]).toEqual([
      ['created', 1732910000],
      ['keyid', 'k1'],
    ]);
  });

  it.each([
    ['two labels', 'a=("@path");created=1, b=("@path");created=1'],
    ['a leading zero', 'sig=("@path");created=01'],
    ['-0', 'sig=("@path");created=-0'],
    ['a repeated parameter', 'sig=("@path");created=1;created=2'],
    ['a Boolean parameter', 'sig=("@path");created=1;x'],
    ['a Token parameter', 'sig=("@path");alg=ed25519'],
    ['a component parameter', 'sig=("@query-param";name="a");created=1'],
    ['an escaped quote', 'sig=("a\\"b");created=1'],
    ['two spaces between items', 'sig=("@method"  "@path");created=1'],
    ['a space inside the parentheses', 'sig=( "@path");created=1'],
  ])('hands %s to the generic parser', (_, value) => {
    expect(parseSignatureInputMember(value)).toBeUndefined();
    expect(() => parseDictionary(value)).not.toThrow();
  });

  it('agrees with the generic parser on everything it accepts (property)', () => {
    fc.assert(
      fc.property(signatureInputValue, (value) => {
        const fast = parseSignatureInputMember(value);
        if (fast === undefined) return;
        const { label, member } = genericMember(value);
        expect(label).toBe(fast.label);
        if (!isInnerList(member)) throw new Error('not an Inner List');
        expect(fast.input[0]).toEqual(member[0]);
        expect([...fast.input[1]]).toEqual([...member[1]]);
        expect(serializeInnerList(member)).toBe(fast.serialized);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts some of the generated values (the property is not vacuous)', () => {
    const samples = fc.sample(signatureInputValue, { numRuns: 2000, seed: 7 });
    expect(samples.filter((v) => parseSignatureInputMember(v) !== undefined).length).toBeGreaterThan(200);
  });
});

describe('parseSignatureMember', () => {
  it('reads a padded base64 signature', () => {
    const bytes = Buffer.from('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'hex');
    const fast = parseSignatureMember(`sig=:${bytes.toString('base64')}:`)!;
    expect(fast.label).toBe('sig');
    expect(Buffer.from(fast.signature).equals(bytes)).toBe(true);
  });

  it.each([
    ['unpadded base64', 'sig=:QQ:'],
    ['a parameter', 'sig=:QQ==:;x=1'],
    ['two labels', 'sig=:QQ==:, b=:QQ==:'],
  ])('hands %s to the generic parser', (_, value) => {
    expect(parseSignatureMember(value)).toBeUndefined();
    expect(() => parseDictionary(value)).not.toThrow();
  });

  it.each(['sig=:Q=:', 'sig=:Q===:', 'sig=:QQ=A:'])('never accepts invalid base64 %s', (value) => {
    expect(parseSignatureMember(value)).toBeUndefined();
  });

  it('agrees with the generic parser on everything it accepts (property)', () => {
    fc.assert(
      fc.property(signatureValue, (value) => {
        const fast = parseSignatureMember(value);
        if (fast === undefined) return;
        const { label, member } = genericMember(value);
        expect(label).toBe(fast.label);
        if (isInnerList(member) || !(member[0] instanceof ArrayBuffer))
          throw new Error('not a Byte Sequence');
        expect(member[1].size).toBe(0);
        expect(Buffer.from(fast.signature).equals(Buffer.from(member[0]))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
