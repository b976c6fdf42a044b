import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePreferWait, serializePreferWait } from './prefer.js';

describe('Prefer: wait (RFC 7240 §4.3, §Deferred Responses)', () => {
  it('reads wait=N', () => {
    expect(parsePreferWait('wait=45', 60)).toBe(45);
    expect(parsePreferWait('wait=0', 60)).toBe(0);
  });

  it('caps at the caller maximum', () => {
    expect(parsePreferWait('wait=600', 30)).toBe(30);
    expect(parsePreferWait('wait=99999999999999999999999', 30)).toBe(30);
  });

  it('ignores other preferences and parameters', () => {
    expect(parsePreferWait('respond-async, wait=10', 60)).toBe(10);
    expect(parsePreferWait('return=minimal; foo="a,b", WAIT = 7 ;x=1', 60)).toBe(7);
    expect(parsePreferWait(['handling=lenient', 'wait=3'], 60)).toBe(3);
  });

  it('takes the first wait (RFC 7240 §2)', () => {
    expect(parsePreferWait('wait=5, wait=50', 60)).toBe(5);
    expect(parsePreferWait('wait=abc, wait=50', 60)).toBeUndefined();
  });

  it('accepts a quoted value', () => {
    expect(parsePreferWait('wait="12"', 60)).toBe(12);
  });

  it('reads absent or unusable preferences as none', () => {
    expect(parsePreferWait(undefined, 60)).toBeUndefined();
    expect(parsePreferWait('respond-async', 60)).toBeUndefined();
    expect(parsePreferWait('wait=-1', 60)).toBeUndefined();
    expect(parsePreferWait('wait=1.5', 60)).toBeUndefined();
    expect(parsePreferWait('wait', 60)).toBeUndefined();
    expect(parsePreferWait('waiting=4', 60)).toBeUndefined();
  });

  it('rejects an invalid maximum', () => {
    expect(() => parsePreferWait('wait=1', -1)).toThrow(RangeError);
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (n, max) => {
        expect(parsePreferWait(serializePreferWait(n), max)).toBe(Math.min(n, max));
      }),
    );
  });

  it('never throws on arbitrary input, and never exceeds the cap', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom(...'wait=12 ,;"\\\\x') })),
        fc.nat({ max: 3600 }),
        (value, max) => {
          const wait = parsePreferWait(value, max);
          if (wait !== undefined) {
            expect(Number.isInteger(wait)).toBe(true);
            expect(wait).toBeGreaterThanOrEqual(0);
            expect(wait).toBeLessThanOrEqual(max);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
