import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { InvalidRequest } from '../errors.js';
import { parseRetryAfter, serializeRetryAfter } from './retry-after.js';

/** 1994-11-06T08:49:30Z, seven seconds before the RFC 9110 example date. */
const clock: Clock = { now: () => Date.UTC(1994, 10, 6, 8, 49, 30) };

describe('Retry-After (RFC 9110 §10.2.3, §Deferred Responses)', () => {
  it('serializes delay-seconds', () => {
    expect(serializeRetryAfter(0)).toBe('0');
    expect(serializeRetryAfter(5)).toBe('5');
    expect(() => serializeRetryAfter(-1)).toThrow(RangeError);
    expect(() => serializeRetryAfter(1.5)).toThrow(RangeError);
  });

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', clock)).toBe(0);
    expect(parseRetryAfter('120', clock)).toBe(120);
    expect(parseRetryAfter(['30'], clock)).toBe(30);
    expect(parseRetryAfter('99999999999999', clock)).toBe(2 ** 31);
  });

  it('reads all three HTTP-date forms relative to the injected clock', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', clock)).toBe(7);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', clock)).toBe(7);
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', clock)).toBe(7);
  });

  it('answers 0 for a date in the past, and moves with the clock', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:00 GMT', clock)).toBe(0);
    const later: Clock = { now: () => clock.now() + 5_500 };
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', later)).toBe(2);
  });

  it('returns undefined when absent', () => {
    expect(parseRetryAfter(undefined, clock)).toBeUndefined();
    expect(parseRetryAfter([], clock)).toBeUndefined();
  });

  it.each([
    ['a negative number', '-1'],
    ['a decimal', '1.5'],
    ['empty', ''],
    ['a loose date', 'tomorrow'],
    ['an impossible date', 'Mon, 31 Feb 2026 08:49:37 GMT'],
    ['a date with a zone other than GMT', 'Sun, 06 Nov 1994 08:49:37 PST'],
    ['two fields', ['1', '2']],
  ])('rejects %s with InvalidRequest', (_name, value) => {
    expect(() => parseRetryAfter(value, clock)).toThrow(InvalidRequest);
  });

  it('round-trips delay-seconds', () => {
    fc.assert(
      fc.property(fc.nat(), (n) => {
        expect(parseRetryAfter(serializeRetryAfter(n), clock)).toBe(n);
      }),
    );
  });

  it('round-trips an IMF-fixdate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (seconds) => {
        const at = new Date(clock.now() + seconds * 1000).toUTCString();
        expect(parseRetryAfter(at, clock)).toBe(seconds);
      }),
    );
  });

  it('never throws anything but InvalidRequest on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: fc.constantFrom(...'0123456789 ,:-GMTSunNov') }),
        ),
        (value) => {
          try {
            const delay = parseRetryAfter(value, clock);
            if (delay !== undefined) expect(delay).toBeGreaterThanOrEqual(0);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidRequest);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
