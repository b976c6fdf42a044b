import { InvalidRequest } from '@aauth-ref/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBody } from './body-parser.js';

describe('parseJsonBody', () => {
  it('arbitrary bytes either parse or throw InvalidRequest, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          parseJsonBody(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
        }
      }),
    );
  });

  it('round-trips JSON values without forbidden member names or NUL', () => {
    const safe = fc.jsonValue().filter((v) => !/__proto__|"constructor"|\\u0000/.test(JSON.stringify(v)));
    fc.assert(
      fc.property(safe, (value) => {
        expect(parseJsonBody(Buffer.from(JSON.stringify(value)))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('keeps the last of duplicate members (documented)', () => {
    expect(parseJsonBody(Buffer.from('{"a":1,"a":2}'))).toEqual({ a: 2 });
  });

  it('accepts a "constructor" member that is not a prototype carrier', () => {
    expect(parseJsonBody(Buffer.from('{"constructor":"x"}'))).toEqual({ constructor: 'x' });
  });

  it('refuses a NUL (\\u0000) in a string or a member name: PostgreSQL text cannot hold it', () => {
    for (const text of ['{"a":"x\\u0000y"}', '{"a\\u0000":1}', '["\\u0000"]', '{"a":{"b":["\\u0000"]}}']) {
      expect(() => parseJsonBody(Buffer.from(text)), text).toThrow(InvalidRequest);
    }
    expect(parseJsonBody(Buffer.from('{"a":"\\u0041"}'))).toEqual({ a: 'A' });
  });
});
