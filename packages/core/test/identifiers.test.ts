import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  agentDomainOf,
  DEV,
  formatAgentIdentifier,
  isAgentIdentifier,
  isEndpointUrl,
  isHostName,
  isHttpsUrl,
  isServerIdentifier,
  originOf,
  parseAgentIdentifier,
  STRICT,
} from '../src/identifiers.js';

describe('isServerIdentifier (§Server Identifiers)', () => {
  it.each([
    'https://agent.example',
    'https://xn--nxasmq6b.example',
    'https://a.b.c.example',
    'https://localhost',
  ])('accepts the valid identifier %s', (id) => {
    expect(isServerIdentifier(id)).toBe(true);
  });

  it.each([
    ['not HTTPS', 'http://agent.example'],
    ['not lowercase', 'https://Agent.Example'],
    ['contains port', 'https://agent.example:8443'],
    ['contains path', 'https://agent.example/v1'],
    ['trailing slash', 'https://agent.example/'],
    ['query', 'https://agent.example?x'],
    ['fragment', 'https://agent.example#x'],
    ['userinfo', 'https://user@agent.example'],
    ['trailing dot', 'https://agent.example.'],
    ['empty label', 'https://agent..example'],
    ['label starting with a hyphen', 'https://-agent.example'],
    ['a U-label', 'https://ünicode.example'],
    ['a reserved hyphen position that is not xn--', 'https://ab--cd.example'],
    ['an IPv4 literal', 'https://192.0.2.1'],
    ['a host the URL parser reads as IPv4', 'https://0x7f.1'],
    ['an IPv6 literal', 'https://[::1]'],
    ['uppercase scheme', 'HTTPS://agent.example'],
    ['empty host', 'https://'],
    ['not a string', 42],
  ])('MUST reject an identifier with %s', (_name, id) => {
    expect(isServerIdentifier(id)).toBe(false);
    expect(isServerIdentifier(id, DEV)).toBe(false);
  });

  it('accepts a label of 63 characters and refuses 64', () => {
    expect(isServerIdentifier(`https://${'a'.repeat(63)}.example`)).toBe(true);
    expect(isServerIdentifier(`https://${'a'.repeat(64)}.example`)).toBe(false);
  });

  it('admits loopback with a port only in development mode (ARCHITECTURE.md, Configuration and modes)', () => {
    for (const id of [
      'http://localhost:3001',
      'http://127.0.0.1:3002',
      'https://localhost:3003',
      'http://localhost',
    ]) {
      expect(isServerIdentifier(id, STRICT)).toBe(false);
      expect(isServerIdentifier(id, DEV)).toBe(true);
    }
  });

  it.each([
    'http://localhost:0',
    'http://localhost:65536',
    'http://localhost:080',
    'http://evil.example:3001',
    'http://localhost:3001/',
  ])('refuses %s even in development mode', (id) => {
    expect(isServerIdentifier(id, DEV)).toBe(false);
  });

  it('accepts only identifiers the URL parser leaves unchanged', () => {
    const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), (labels) => {
        const id = `https://${labels.join('.')}`;
        if (isServerIdentifier(id)) expect(new URL(id).origin).toBe(id);
      }),
    );
  });
});

describe('isHostName', () => {
  it('refuses over-long names', () => {
    expect(isHostName(`${'a.'.repeat(126)}ab`)).toBe(false);
    expect(isHostName('')).toBe(false);
  });
});

describe('isEndpointUrl (§Endpoint URLs) and isHttpsUrl (§Other URLs)', () => {
  it('accepts https with path and port', () => {
    expect(isEndpointUrl('https://ps.example/token')).toBe(true);
    expect(isEndpointUrl('https://ps.example:8443/token')).toBe(true);
  });

  it.each([
    ['a query', 'https://ps.example/token?x=1'],
    ['an empty query', 'https://ps.example/token?'],
    ['a fragment', 'https://ps.example/token#f'],
    ['http', 'http://ps.example/token'],
    ['credentials', 'https://u:p@ps.example/token'],
    ['not a URL', 'ps.example/token'],
  ])('MUST reject an endpoint with %s', (_name, url) => {
    expect(isEndpointUrl(url)).toBe(false);
  });

  it('admits loopback http in development mode only', () => {
    expect(isEndpointUrl('http://localhost:3001/token')).toBe(false);
    expect(isEndpointUrl('http://localhost:3001/token', DEV)).toBe(true);
    expect(isEndpointUrl('http://ps.example/token', DEV)).toBe(false);
  });

  it('isHttpsUrl allows a query but not http', () => {
    expect(isHttpsUrl('https://ps.example/jwks.json?v=2')).toBe(true);
    expect(isHttpsUrl('http://ps.example/jwks.json')).toBe(false);
    expect(isHttpsUrl('http://127.0.0.1:3001/jwks.json', DEV)).toBe(true);
    expect(isHttpsUrl(undefined)).toBe(false);
  });

  it('originOf', () => {
    expect(originOf('https://ps.example:8443/a?b')).toBe('https://ps.example:8443');
    expect(originOf('nope')).toBeUndefined();
  });
});

describe('agent identifiers (§Agent Identifiers)', () => {
  it.each(['aauth:assistant-v2@agent.example', 'aauth:planner.7f3c@vendor.example', 'aauth:a_b@x.example'])(
    'accepts %s',
    (id) => {
      expect(isAgentIdentifier(id)).toBe(true);
    },
  );

  it('splits a sub-agent local part for display only', () => {
    expect(parseAgentIdentifier('aauth:planner.7f3c+search1@vendor.example')).toEqual({
      local: 'planner.7f3c+search1',
      domain: 'vendor.example',
      parentLocal: 'planner.7f3c',
    });
    expect(parseAgentIdentifier('aauth:assistant@agent.example')).toEqual({
      local: 'assistant',
      domain: 'agent.example',
    });
  });

  it.each([
    ['uppercase and space', 'aauth:My Agent@agent.example'],
    ['no scheme', 'My Agent@agent.example'],
    ['empty local part', 'aauth:@agent.example'],
    ['domain with scheme', 'aauth:agent@http://agent.example'],
    ['uppercase local', 'aauth:Agent@agent.example'],
    ['uppercase domain', 'aauth:agent@Agent.example'],
    ['domain with port', 'aauth:agent@agent.example:443'],
    ['an IP domain', 'aauth:agent@192.0.2.1'],
    ['a leading +', 'aauth:+x@agent.example'],
    ['a trailing +', 'aauth:x+@agent.example'],
    ['two levels of +', 'aauth:a+b+c@agent.example'],
    ['an @ in the local part', 'aauth:a@b@agent.example'],
    ['256 characters', `aauth:${'a'.repeat(256)}@agent.example`],
  ])('MUST reject %s', (_name, id) => {
    expect(isAgentIdentifier(id)).toBe(false);
  });

  it('accepts 255 characters', () => {
    expect(isAgentIdentifier(`aauth:${'a'.repeat(255)}@agent.example`)).toBe(true);
  });

  it('admits a loopback domain in development mode', () => {
    expect(isAgentIdentifier('aauth:dev@localhost:3001')).toBe(false);
    expect(isAgentIdentifier('aauth:dev@localhost:3001', DEV)).toBe(true);
  });

  it('formatAgentIdentifier checks what it builds', () => {
    expect(formatAgentIdentifier('assistant', 'agent.example')).toBe('aauth:assistant@agent.example');
    expect(() => formatAgentIdentifier('Bad', 'agent.example')).toThrow(TypeError);
    expect(formatAgentIdentifier('dev', 'localhost:3001', DEV)).toBe('aauth:dev@localhost:3001');
  });

  it('agentDomainOf', () => {
    expect(agentDomainOf('https://ap.example')).toBe('ap.example');
    expect(agentDomainOf('http://localhost:3001')).toBe('localhost:3001');
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string().map((s) => `aauth:${s}`),
        ),
        (s) => {
          parseAgentIdentifier(s, DEV);
          isServerIdentifier(s, DEV);
          isEndpointUrl(s, DEV);
          isHttpsUrl(s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
