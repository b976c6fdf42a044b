import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CAPABILITY_VALUES, parseAAuthCapabilities, serializeAAuthCapabilities } from './capabilities.js';

describe('AAuth-Capabilities (§AAuth-Capabilities Request Header)', () => {
  it('reads the spec example', () => {
    expect([...parseAAuthCapabilities('interaction, clarification, payment')]).toEqual([
      'interaction',
      'clarification',
      'payment',
    ]);
  });

  it('assumes no capabilities when the header is absent ("MUST NOT assume any capabilities")', () => {
    expect(parseAAuthCapabilities(undefined).size).toBe(0);
    expect(parseAAuthCapabilities([]).size).toBe(0);
  });

  it('ignores unrecognised values ("Recipients MUST ignore unrecognized capability values")', () => {
    expect([...parseAAuthCapabilities('teleport, interaction, "payment", (clarification)')]).toEqual([
      'interaction',
    ]);
  });

  it('ignores parameters rather than rejecting the header', () => {
    expect([...parseAAuthCapabilities('interaction;via=ps;q=0.5, payment;max=10')]).toEqual([
      'interaction',
      'payment',
    ]);
  });

  it('is case-sensitive (Tokens)', () => {
    expect(parseAAuthCapabilities('Interaction, PAYMENT').size).toBe(0);
  });

  it('combines field lines', () => {
    expect([...parseAAuthCapabilities(['interaction', 'payment'])]).toEqual(['interaction', 'payment']);
  });

  it('reads a malformed field as absent (RFC 8941 §2)', () => {
    expect(parseAAuthCapabilities('interaction,,payment').size).toBe(0);
    expect(parseAAuthCapabilities('interaction, "open').size).toBe(0);
  });

  it('serializes, dropping repeats and keeping unregistered Tokens from the PS', () => {
    expect(serializeAAuthCapabilities(['interaction', 'payment', 'interaction', 'future-cap'])).toBe(
      'interaction, payment, future-cap',
    );
    expect(serializeAAuthCapabilities([])).toBe('');
    expect(() => serializeAAuthCapabilities(['two words'])).toThrow(TypeError);
  });

  it('round-trips any set of registered capabilities', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...CAPABILITY_VALUES)), (caps) => {
        expect([...parseAAuthCapabilities(serializeAAuthCapabilities(caps))]).toEqual(caps);
      }),
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: fc.constantFrom(...'interaction,payment ;="()*') }),
          fc.array(fc.string(), { maxLength: 3 }),
        ),
        (value) => {
          parseAAuthCapabilities(value);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
