import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPlainTarget } from '../../src/httpsig/components.js';

/** `@authority` and `@path` read without the URL parser must be what the URL parser gives. */
describe('readPlainTarget', () => {
  it('reads the URLs the verify hook builds', () => {
    expect(readPlainTarget('https://resource.example/api/notes?limit=3')).toEqual({
      host: 'resource.example',
      pathname: '/api/notes',
    });
    expect(readPlainTarget('http://localhost:3003/api/whoami')).toEqual({
      host: 'localhost:3003',
      pathname: '/api/whoami',
    });
    expect(readPlainTarget('https://ps.example')).toEqual({ host: 'ps.example', pathname: '/' });
  });

  it.each([
    ['an upper-case host', 'https://PS.example/x'],
    ['a numeric last label (read as IPv4)', 'http://127.1/x'],
    ['an IPv6 literal', 'http://[::1]:3000/x'],
    ['a default port', 'https://ps.example:443/x'],
    ['a port out of range', 'https://ps.example:70000/x'],
    ['a dot segment', 'https://ps.example/a/../b'],
    ['a trailing dot segment', 'https://ps.example/a/.'],
    ['a percent-encoded octet', 'https://ps.example/a%2e%2e/b'],
    ['a backslash', 'https://ps.example/a\\b'],
    ['a fragment', 'https://ps.example/a#b'],
    ['a space', 'https://ps.example/a b'],
    ['userinfo', 'https://u@ps.example/a'],
  ])('leaves %s to the URL parser', (_, url) => {
    expect(readPlainTarget(url)).toBeUndefined();
  });

  it('agrees with the URL parser on everything it accepts (property)', () => {
    const label = fc.oneof(
      {
        arbitrary: fc.constantFrom('ps', 'example', 'localhost', 'xn--bcher-kva', 'a-b', '127', '0x7f'),
        weight: 3,
      },
      { arbitrary: fc.stringMatching(/^[a-zA-Z0-9-]{1,5}$/), weight: 1 },
    );
    const host = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));
    const port = fc.oneof(
      fc.constant(''),
      fc.constantFrom(':80', ':443', ':3003', ':0', ':08080', ':65535', ':65536', ':99999').map(String),
    );
    const segment = fc.oneof(
      {
        arbitrary: fc.constantFrom('api', 'notes', '.', '..', '...', '.well-known', 'a;b=c', '%2e', '~x'),
        weight: 3,
      },
      { arbitrary: fc.string({ maxLength: 5 }), weight: 1 },
    );
    const path = fc.array(segment, { maxLength: 4 }).map((segments) => segments.map((s) => `/${s}`).join(''));
    const query = fc.constantFrom('', '?', '?a=1', '?a=%20&b', '#frag', '?q#f');
    const url = fc
      .tuple(fc.constantFrom('http', 'https'), host, port, path, query)
      .map(([scheme, h, p, pa, q]) => `${scheme}://${h}${p}${pa}${q}`);
    let accepted = 0;
    fc.assert(
      fc.property(url, (value) => {
        const plain = readPlainTarget(value);
        if (plain === undefined) return;
        accepted++;
        const parsed = new URL(value);
        expect(plain).toEqual({ host: parsed.host, pathname: parsed.pathname });
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(500);
  });
});
