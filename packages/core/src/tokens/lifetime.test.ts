import { describe, expect, it } from 'vitest';
import { InvalidResourceToken } from '../errors.js';
import { assertResourceTokenLifetime, DEFAULT_RESOURCE_TOKEN_MAX_LIFETIME_SECONDS } from './lifetime.js';

describe('assertResourceTokenLifetime (§Resource Token Structure: at most the lifetime the server accepts)', () => {
  it('defaults to the spec’s five minutes', () => {
    expect(DEFAULT_RESOURCE_TOKEN_MAX_LIFETIME_SECONDS).toBe(300);
  });

  it('accepts a token at exactly the maximum', () => {
    expect(() => assertResourceTokenLifetime({ iat: 1000, exp: 1300 })).not.toThrow();
    expect(() => assertResourceTokenLifetime({ iat: 1000, exp: 1060 }, 60)).not.toThrow();
  });

  it('refuses one second more with invalid_resource_token (400)', () => {
    let caught: unknown;
    try {
      assertResourceTokenLifetime({ iat: 1000, exp: 1301 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidResourceToken);
    expect((caught as InvalidResourceToken).status).toBe(400);
    expect((caught as InvalidResourceToken).error).toBe('invalid_resource_token');
    expect(() => assertResourceTokenLifetime({ iat: 1000, exp: 1061 }, 60)).toThrow(InvalidResourceToken);
  });
});
