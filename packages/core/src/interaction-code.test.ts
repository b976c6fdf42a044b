import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CROCKFORD_ALPHABET,
  generateInteractionCode,
  interactionCodesMatch,
  isInteractionCode,
  normalizeInteractionCode,
} from './interaction-code.js';

describe('generateInteractionCode (§Interaction Code Format)', () => {
  it('emits 8 Crockford symbols grouped like A1B2-C3D4 by default', () => {
    const code = generateInteractionCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(isInteractionCode(code)).toBe(true);
  });

  it('never emits I, L, O or U', () => {
    for (let i = 0; i < 200; i++)
      expect(generateInteractionCode({ symbols: 32, groupSize: 0 })).not.toMatch(/[ILOU]/);
  });

  it('supports longer codes and no grouping', () => {
    expect(generateInteractionCode({ symbols: 12, groupSize: 0 })).toMatch(/^[0-9A-HJKMNP-TV-Z]{12}$/);
    expect(generateInteractionCode({ symbols: 12, groupSize: 3 })).toMatch(
      /^(?:[0-9A-Z]{3}-){3}[0-9A-Z]{3}$/,
    );
  });

  it('refuses fewer than 8 symbols (MUST carry at least 40 bits)', () => {
    expect(() => generateInteractionCode({ symbols: 7 })).toThrow(RangeError);
  });

  it('draws every symbol about equally often (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const draws = 2000;
    for (let i = 0; i < draws; i++) {
      for (const c of generateInteractionCode({ symbols: 32, groupSize: 0 }))
        counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    // Each symbol expects 2000 draws; a chi-square-ish band of ±15% is far outside chance.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(1700);
      expect(n).toBeLessThan(2300);
    }
  });
});

describe('normalizeInteractionCode', () => {
  it('strips hyphens, folds case and the decode aliases', () => {
    expect(normalizeInteractionCode('a1b2-c3d4')).toBe('A1B2C3D4');
    expect(normalizeInteractionCode('--A1B2--C3D4-')).toBe('A1B2C3D4');
    expect(normalizeInteractionCode('iIlLoO')).toBe('111100');
  });

  it.each(['A1B2-C3DU', 'u', 'A1B2 C3D4', 'A1B2_C3D4', 'ı1B2C3D4', 'ſ1B2C3D4', 'Ａ1B2C3D4', '', '----'])(
    'returns undefined for %j',
    (input) => {
      expect(normalizeInteractionCode(input)).toBeUndefined();
    },
  );

  it('refuses overlong input', () => {
    expect(normalizeInteractionCode('A'.repeat(129))).toBeUndefined();
  });

  it('is the identity, without hyphens, on generated codes', () => {
    for (let i = 0; i < 50; i++) {
      const code = generateInteractionCode();
      expect(normalizeInteractionCode(code)).toBe(code.replaceAll('-', ''));
    }
  });
});

describe('interactionCodesMatch', () => {
  it('matches what a person may type for a code (§Interaction Code Format: Hyphens, Case)', () => {
    expect(interactionCodesMatch('A1B2-C3D4', 'a1b2c3d4')).toBe(true);
    expect(interactionCodesMatch('0B1C-D2E3', 'obic-d2e3')).toBe(true);
    expect(interactionCodesMatch('1111-0000', 'ILil-OoOo')).toBe(true);
  });

  it('rejects different or invalid codes', () => {
    expect(interactionCodesMatch('A1B2-C3D4', 'A1B2-C3D5')).toBe(false);
    expect(interactionCodesMatch('A1B2-C3D4', 'A1B2-C3D')).toBe(false);
    expect(interactionCodesMatch('A1B2-C3D4', 'A1B2-C3DU')).toBe(false);
    expect(interactionCodesMatch('', '')).toBe(false);
  });

  it('agrees with comparing normalized values, for arbitrary input', () => {
    const symbol = fc.constantFrom(...`${CROCKFORD_ALPHABET}${CROCKFORD_ALPHABET.toLowerCase()}ILOilo-U `);
    const code = fc.string({ unit: symbol, minLength: 0, maxLength: 20 });
    fc.assert(
      fc.property(fc.oneof(code, fc.string({ unit: 'binary' })), fc.oneof(code, fc.string()), (a, b) => {
        const na = normalizeInteractionCode(a);
        const nb = normalizeInteractionCode(b);
        expect(interactionCodesMatch(a, b)).toBe(na !== undefined && na === nb);
        if (na !== undefined) expect(na).toMatch(/^[0-9A-HJKMNP-TV-Z]+$/);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('isInteractionCode', () => {
  it('accepts emitted forms only', () => {
    expect(isInteractionCode('A1B2-C3D4')).toBe(true);
    expect(isInteractionCode('A1B2C3D4E5')).toBe(true);
    expect(isInteractionCode('a1b2-c3d4')).toBe(false);
    expect(isInteractionCode('A1B2-C3D')).toBe(false);
    expect(isInteractionCode('A1B2-C3DI')).toBe(false);
    expect(isInteractionCode(12345678)).toBe(false);
  });
});
