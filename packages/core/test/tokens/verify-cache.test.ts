import { beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenVerificationError } from '../../src/tokens/token-error.js';
import { createWorld, forgeJwt, PS, payloadOf, RS } from './helpers.js';

// Spy on the crypto entry points the verifier uses, keeping their real behaviour.
vi.mock('../../src/jwk.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/jwk.js')>();
  return {
    ...real,
    verifyBytes: vi.fn(real.verifyBytes),
    importPublicJwk: vi.fn(real.importPublicJwk),
  };
});

const jwk = await import('../../src/jwk.js');
const verifySpy = vi.mocked(jwk.verifyBytes);
const importSpy = vi.mocked(jwk.importPublicJwk);

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVerificationError);
    return (err as TokenVerificationError).reason;
  }
  throw new Error('verification unexpectedly succeeded');
}

describe('verified-token cache', () => {
  beforeEach(() => {
    verifySpy.mockClear();
    importSpy.mockClear();
  });

  it('a cold verification costs exactly one signature verification and one resolver call', async () => {
    const w = createWorld();
    await w.verifier.verify(w.issue('auth'), { kinds: ['auth'], audience: RS });
    expect(verifySpy).toHaveBeenCalledTimes(1);
    expect(importSpy).toHaveBeenCalledTimes(1);
    expect(w.resolver.calls).toHaveLength(1);
  });

  it('a second verify of the same token makes no resolver call and no crypto', async () => {
    const w = createWorld();
    const jwt = w.issue('auth');
    const first = await w.verifier.verify(jwt, { kinds: ['auth'], audience: RS });
    verifySpy.mockClear();
    importSpy.mockClear();
    const second = await w.verifier.verify(jwt, { kinds: ['auth'], audience: RS });
    expect(second).toBe(first);
    expect(verifySpy).not.toHaveBeenCalled();
    expect(importSpy).not.toHaveBeenCalled();
    expect(w.resolver.calls).toHaveLength(1);
    expect(Object.isFrozen(second.claims)).toBe(true);
    expect(Object.isFrozen(second.claims.cnf.jwk)).toBe(true);
  });

  it('an expired cached token is still rejected after moving the clock', async () => {
    const w = createWorld();
    const jwt = w.issue('agent', {}, 600);
    await w.verifier.verify(jwt, { kinds: ['agent'] });
    w.clock.advance(599);
    await w.verifier.verify(jwt, { kinds: ['agent'] });
    w.clock.advance(1);
    expect(await reasonOf(w.verifier.verify(jwt, { kinds: ['agent'] }))).toBe('expired');
    expect(w.resolver.calls).toHaveLength(1);
  });

  it('§Person Token Verification: a cached person token is still rejected when auth is requested', async () => {
    const w = createWorld();
    const jwt = w.issue('person');
    await w.verifier.verify(jwt, { kinds: ['person', 'agent'], audience: RS });
    expect(await reasonOf(w.verifier.verify(jwt, { kinds: ['auth'], audience: RS }))).toBe('typ');
  });

  it('aud is re-checked on a hit', async () => {
    const w = createWorld();
    const jwt = w.issue('resource');
    await w.verifier.verify(jwt, { kinds: ['resource'], audience: PS });
    expect(
      await reasonOf(w.verifier.verify(jwt, { kinds: ['resource'], audience: 'https://as.example' })),
    ).toBe('audience');
    // A token first seen with the wrong audience is cached all the same and serves the right one.
    const other = w.issue('resource');
    expect(
      await reasonOf(w.verifier.verify(other, { kinds: ['resource'], audience: 'https://as.example' })),
    ).toBe('audience');
    verifySpy.mockClear();
    await w.verifier.verify(other, { kinds: ['resource'], audience: PS });
    expect(verifySpy).not.toHaveBeenCalled();
  });

  it('failures are not cached', async () => {
    const w = createWorld();
    const jwt = w.issue('agent');
    const bad = forgeJwt(
      { alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-1' },
      { ...payloadOf(jwt), sub: 'aauth:someone-else@agent.example' },
      w.signers.rs,
    );
    expect(await reasonOf(w.verifier.verify(bad, { kinds: ['agent'] }))).toBe('signature');
    expect(await reasonOf(w.verifier.verify(bad, { kinds: ['agent'] }))).toBe('signature');
    expect(w.resolver.calls).toHaveLength(4);
  });

  it('cacheSize 0 disables the cache', async () => {
    const w = createWorld();
    const verifier = w.newVerifier({ cacheSize: 0 });
    const jwt = w.issue('agent');
    await verifier.verify(jwt, { kinds: ['agent'] });
    await verifier.verify(jwt, { kinds: ['agent'] });
    expect(verifySpy).toHaveBeenCalledTimes(2);
    expect(w.resolver.calls).toHaveLength(2);
  });

  it('the cache is bounded (LRU)', async () => {
    const w = createWorld();
    const verifier = w.newVerifier({ cacheSize: 2 });
    const [a, b, c] = [w.issue('agent'), w.issue('agent'), w.issue('agent')];
    for (const jwt of [a, b, c]) await verifier.verify(jwt, { kinds: ['agent'] });
    verifySpy.mockClear();
    await verifier.verify(c, { kinds: ['agent'] });
    await verifier.verify(b, { kinds: ['agent'] });
    expect(verifySpy).not.toHaveBeenCalled();
    await verifier.verify(a, { kinds: ['agent'] });
    expect(verifySpy).toHaveBeenCalledTimes(1);
  });
});
