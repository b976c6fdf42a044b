import { DiscoveryError, DWK } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { isAgentCallback, matchesCallbackEndpoint } from '../../src/index.js';

/** §User Interaction: the callback "is constructed from the agent's `callback_endpoint` metadata". */

const ENDPOINT = 'https://agent.example/callback';

describe('matchesCallbackEndpoint', () => {
  it.each([
    ENDPOINT,
    `${ENDPOINT}?state=1`,
    'https://AGENT.example/callback',
    'https://agent.example:443/callback',
  ])('accepts %s (same origin and path, any query)', (callback) => {
    expect(matchesCallbackEndpoint(callback, ENDPOINT)).toBe(true);
  });

  it.each([
    'https://evil.example/callback',
    'https://agent.example.evil.example/callback',
    'https://agent.example/other',
    'https://agent.example/callback/more',
    'https://agent.example/Callback',
    'http://agent.example/callback',
    'https://agent.example:8443/callback',
    'https://user:pw@agent.example/callback',
    'https://localhost@evil.example/callback',
    '/callback',
    '//agent.example/callback',
    '/\\evil.example/callback',
    'javascript:alert(1)',
    'https:agent.example/callback',
    ' https://agent.example/callback',
    '',
  ])('refuses %j', (callback) => {
    expect(matchesCallbackEndpoint(callback, ENDPOINT)).toBe(false);
  });

  it('refuses anything when the endpoint is not a URL', () => {
    expect(matchesCallbackEndpoint(ENDPOINT, 'not a url')).toBe(false);
  });
});

describe('isAgentCallback', () => {
  const keysWith = (metadata: Record<string, unknown> | Error) => ({
    async metadata(iss: string, dwk: string) {
      expect([iss, dwk]).toEqual(['https://agent.example', DWK.agent]);
      if (metadata instanceof Error) throw metadata;
      return metadata;
    },
  });

  it("accepts the AP's callback_endpoint", async () => {
    const keys = keysWith({ issuer: 'https://agent.example', callback_endpoint: ENDPOINT });
    expect(await isAgentCallback(keys, 'https://agent.example', `${ENDPOINT}?x=1`)).toBe(true);
    expect(await isAgentCallback(keys, 'https://agent.example', 'https://evil.example/callback')).toBe(false);
  });

  it('refuses when the AP publishes no callback_endpoint, cannot be fetched, or is unknown', async () => {
    expect(
      await isAgentCallback(keysWith({ issuer: 'https://agent.example' }), 'https://agent.example', ENDPOINT),
    ).toBe(false);
    expect(
      await isAgentCallback(
        keysWith(new DiscoveryError('network', 'unreachable')),
        'https://agent.example',
        ENDPOINT,
      ),
    ).toBe(false);
    expect(
      await isAgentCallback(keysWith({ callback_endpoint: 42 }), 'https://agent.example', ENDPOINT),
    ).toBe(false);
    expect(await isAgentCallback(keysWith({ callback_endpoint: ENDPOINT }), null, ENDPOINT)).toBe(false);
  });
});
