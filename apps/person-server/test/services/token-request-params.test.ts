import { AAuthError, DEV, InvalidRequest, STRICT } from '@aauth-ref/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseAuthTokenParams,
  parseDevice,
  parsePersonTokenParams,
  parsePlatform,
  parsePrompt,
} from '../../src/services/token-request-params.js';

function expectInvalid(fn: () => unknown) {
  expect(fn).toThrow(InvalidRequest);
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ status: 400, error: 'invalid_request' });
  }
}

describe('person token request parameters (§Person Token Endpoint)', () => {
  it('accepts a server identifier, and loopback http only in development mode', () => {
    expect(parsePersonTokenParams({ resource: 'https://resource.example' }, STRICT)).toEqual({
      resource: 'https://resource.example',
    });
    expectInvalid(() => parsePersonTokenParams({ resource: 'http://localhost:3003' }, STRICT));
    expect(parsePersonTokenParams({ resource: 'http://localhost:3003' }, DEV).resource).toBe(
      'http://localhost:3003',
    );
  });

  it('keeps the optional members and ignores unknown ones', () => {
    const mission = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    expect(
      parsePersonTokenParams(
        {
          resource: 'https://resource.example',
          mission_s256: mission,
          subagent_token: 'a.b.c',
          upstream_token: 'd.e.f',
          capabilities: ['payment', 'unknown'],
          extension: true,
        },
        STRICT,
      ),
    ).toEqual({
      resource: 'https://resource.example',
      mission_s256: mission,
      subagent_token: 'a.b.c',
      upstream_token: 'd.e.f',
      capabilities: ['payment'],
    });
  });

  it.each([
    { subagent_token: '' },
    { upstream_token: 7 },
    { capabilities: 'interaction' },
    { capabilities: [1] },
    { mission_s256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl' },
  ])('rejects %j with 400 invalid_request', (extra) => {
    expectInvalid(() => parsePersonTokenParams({ resource: 'https://resource.example', ...extra }, STRICT));
  });
});

describe('auth token request parameters (§Agent Token Request)', () => {
  it('parses every member; capabilities absent means none declared', () => {
    expect(parseAuthTokenParams({ resource_token: 'r' })).toEqual({ resource_token: 'r', prompt: [] });
    expect(
      parseAuthTokenParams({
        resource_token: 'r',
        justification: 'why',
        prompt: 'login consent',
        platform: 'self-hosted',
        device: 'Pixel 8 (App)',
        capabilities: [],
      }),
    ).toEqual({
      resource_token: 'r',
      justification: 'why',
      prompt: ['login', 'consent'],
      platform: 'self-hosted',
      device: 'Pixel 8 (App)',
      capabilities: [],
    });
  });

  it.each([
    {},
    { resource_token: 1 },
    { resource_token: 'r', justification: 'x'.repeat(8193) },
    { resource_token: 'r', login_hint: '' },
    { resource_token: 'r', tenant: 3 },
    { resource_token: 'r', domain_hint: null },
  ])('rejects %j with 400 invalid_request', (body) => {
    expectInvalid(() => parseAuthTokenParams(body));
  });

  it('platform: only AAuth Platform Value Registry values (§AAuth Platform Value Registry)', () => {
    for (const value of ['web', 'mobile', 'desktop', 'workload', 'self-hosted'])
      expect(parsePlatform(value)).toBe(value);
    for (const value of ['Web', 'android', '', 5]) expectInvalid(() => parsePlatform(value));
  });

  it('device: printable UTF-8 of at most 64 characters (§Agent Token Request)', () => {
    expect(parseDevice('😀'.repeat(64))).toBe('😀'.repeat(64));
    expectInvalid(() => parseDevice('x'.repeat(65)));
    expectInvalid(() => parseDevice('Chrome\non macOS'));
    expectInvalid(() => parseDevice('Chrome\u0000'));
    expectInvalid(() => parseDevice('evil\u202egnp.exe'));
    expectInvalid(() => parseDevice(''));
    expectInvalid(() => parseDevice(42));
  });

  it('prompt: space-delimited, unknown values ignored, none alone', () => {
    expect(parsePrompt('consent select_account later')).toEqual(['consent', 'select_account']);
    expect(parsePrompt('none')).toEqual(['none']);
    expectInvalid(() => parsePrompt('none consent'));
    expectInvalid(() => parsePrompt('consent  login'));
    expectInvalid(() => parsePrompt(''));
    expectInvalid(() => parsePrompt(['consent']));
  });

  it('never throws anything but a typed error on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        for (const parse of [() => parseAuthTokenParams(body), () => parsePersonTokenParams(body, STRICT)]) {
          try {
            parse();
          } catch (err) {
            if (!(err instanceof AAuthError)) throw err;
          }
        }
      }),
    );
  });
});
