import { createFakeClock } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import {
  cookieNames,
  createLoginThrottle,
  createMemoryRateLimiter,
  createMemorySessionBackend,
  createSessionStore,
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  hashSessionId,
  isSafeRedirect,
  needsRehash,
  parseCookies,
  parseFormBody,
  serializeCookie,
  toSafeRedirect,
  verifyPassword,
} from '../../src/index.js';

describe('passwords (scrypt)', () => {
  it('hashes with the default parameters, a per-hash salt, and verifies', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('verifies with the parameters stored in the hash, and says when to re-hash', async () => {
    const weak = await hashPassword('pw', { ln: 10, r: 8, p: 1 });
    expect(weak.startsWith('$scrypt$ln=10,r=8,p=1$')).toBe(true);
    expect(await verifyPassword('pw', weak)).toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('pw', DEFAULT_SCRYPT_PARAMS))).toBe(false);
    expect(needsRehash('garbage')).toBe(true);
  });

  it('normalizes Unicode so the same password typed differently verifies', async () => {
    const stored = await hashPassword('caf\u00e9', { ln: 10, r: 8, p: 1 });
    expect(await verifyPassword('cafe\u0301', stored)).toBe(true);
  });

  it('returns false (after equal work) for an unknown account or a malformed or abusive stored value', async () => {
    expect(await verifyPassword('pw', undefined)).toBe(false);
    expect(await verifyPassword('pw', 'plaintext')).toBe(false);
    expect(
      await verifyPassword(
        'pw',
        '$scrypt$ln=31,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ),
    ).toBe(false);
  });
});

describe('sliding-window rate limiter', () => {
  it('allows `limit` attempts per window and reports Retry-After', async () => {
    const clock = createFakeClock(1_000_000);
    const limiter = createMemoryRateLimiter({ limit: 3, windowSeconds: 60, clock });
    for (let i = 0; i < 3; i++) {
      expect((await limiter.check('k')).allowed).toBe(true);
      await limiter.record('k');
      clock.advance(10_000);
    }
    // Attempts at t=0, 10 s, 20 s; now t=30 s.
    expect(await limiter.check('k')).toEqual({ allowed: false, remaining: 0, retryAfterSeconds: 30 });
    clock.advance(30_000);
    expect(await limiter.check('k')).toEqual({ allowed: true, remaining: 1, retryAfterSeconds: 0 });
    await limiter.reset('k');
    expect((await limiter.check('k')).remaining).toBe(3);
  });

  it('holds a bounded number of keys', async () => {
    const clock = createFakeClock(0);
    const limiter = createMemoryRateLimiter({ limit: 1, windowSeconds: 60, clock, maxKeys: 2 });
    await limiter.record('a');
    await limiter.record('b');
    await limiter.record('c');
    expect((await limiter.check('a')).allowed).toBe(true);
    expect((await limiter.check('c')).allowed).toBe(false);
  });

  it('login throttle: per username (case-folded) and per address; success resets only the username', async () => {
    const clock = createFakeClock(0);
    const throttle = createLoginThrottle({
      perUsername: createMemoryRateLimiter({ limit: 2, windowSeconds: 300, clock }),
      perAddress: createMemoryRateLimiter({ limit: 3, windowSeconds: 300, clock }),
    });
    await throttle.recordFailure({ username: 'Alice', address: '192.0.2.1' });
    await throttle.recordFailure({ username: 'alice ', address: '192.0.2.2' });
    expect((await throttle.check({ username: 'ALICE', address: '192.0.2.9' })).allowed).toBe(false);
    await throttle.recordFailure({ username: 'bob', address: '192.0.2.1' });
    await throttle.recordFailure({ username: 'carol', address: '192.0.2.1' });
    const byAddress = await throttle.check({ username: 'dave', address: '192.0.2.1' });
    expect(byAddress.allowed).toBe(false);
    expect(byAddress.retryAfterSeconds).toBe(300);
    await throttle.recordSuccess({ username: 'alice', address: '192.0.2.1' });
    expect((await throttle.check({ username: 'alice', address: '192.0.2.9' })).allowed).toBe(true);
    expect((await throttle.check({ username: 'dave', address: '192.0.2.1' })).allowed).toBe(false);
  });
});

describe('isSafeRedirect', () => {
  const allowed = ['https://agent.example', 'http://localhost:3003/ignored-path'];
  it.each([
    '/dashboard',
    '/consent?code=AB12&x=%2F%2Fevil',
    'https://agent.example/callback?state=1',
    'http://localhost:3003/cb',
  ])('accepts %s', (url) => expect(isSafeRedirect(url, allowed)).toBe(true));
  it.each([
    '',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    ' /dashboard',
    'https://agent.example.evil.example/',
    'https://evil.example/?https://agent.example',
    'https://agent.example:444/',
    'http://agent.example/',
    'https://user@agent.example/',
    'javascript:alert(1)',
    'data:text/html,x',
    'dashboard',
    'https:agent.example',
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (url) => expect(isSafeRedirect(url, allowed)).toBe(false));
  it('falls back', () => {
    expect(toSafeRedirect('//evil.example', allowed, '/')).toBe('/');
    expect(toSafeRedirect(undefined, allowed, '/home')).toBe('/home');
  });
});

describe('cookies and forms', () => {
  it('names cookies per server', () => {
    expect(cookieNames('ps')).toEqual({ session: 'ps_session', csrf: 'ps_csrf' });
    expect(cookieNames('as').session).toBe('as_session');
    expect(() => cookieNames('PS; x')).toThrow(TypeError);
  });

  it('parses Cookie headers (first wins) and refuses to serialize unsafe values', () => {
    const cookies = parseCookies('a=1; b="2"; a=3; junk; =x');
    expect([...cookies]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(() => serializeCookie('ps_session', 'x; Domain=evil.example', { secure: true })).toThrow(
      TypeError,
    );
  });

  it('parses forms into null-prototype records with repeated fields as arrays', () => {
    const body = parseFormBody(Buffer.from('a=1&b=x+y&a=2&__proto__=p&constructor=c'));
    expect(Object.getPrototypeOf(body)).toBeNull();
    expect(body.a).toEqual(['1', '2']);
    expect(body.b).toBe('x y');
    expect(Object.getOwnPropertyDescriptor(body, '__proto__')?.value).toBe('p');
    expect(() => parseFormBody(Buffer.from('x=1&'.repeat(300)))).toThrow('The form has too many fields.');
  });
});

describe('session store', () => {
  it('keeps only the hash, expires sessions, and rotates ids', async () => {
    const clock = createFakeClock(0);
    const backend = createMemorySessionBackend();
    const store = createSessionStore(backend, { clock });
    const session = await store.create('person-1', 60);
    expect(session.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await backend.find(session.id)).toBeUndefined();
    expect(await backend.find(hashSessionId(session.id))).toMatchObject({
      personId: 'person-1',
      expiresAt: 60_000,
    });
    expect((await store.get(session.id))?.personId).toBe('person-1');
    const rotated = (await store.rotate(session.id))!;
    expect(rotated.id).not.toBe(session.id);
    expect(rotated.expiresAt).toBe(60_000);
    expect(await store.get(session.id)).toBeUndefined();
    clock.advance(60_000);
    expect(await store.get(rotated.id)).toBeUndefined();
    expect(backend.size()).toBe(0);
    await expect(store.create('p', 0)).rejects.toThrow(TypeError);
    expect(await store.get('not-an-id')).toBeUndefined();
  });
});
