import { describe, expect, it, vi } from 'vitest';
import type { Clock } from '../clock.js';
import { createEgressPolicy } from '../egress/address-policy.js';
import type { GuardedFetch, GuardedResponse } from '../egress/guarded-fetch.js';
import { generateKeyPair, type KeyPair } from '../jwk.js';
import {
  createHttpKeyResolver,
  type HttpKeyResolverOptions,
  responseLifetimeMs,
} from './http-key-resolver.js';
import { DiscoveryError } from './types.js';

const ISS = 'https://agent.example';
const DWK = 'aauth-agent.json';
const METADATA_URL = `${ISS}/.well-known/${DWK}`;
const JWKS_URL = `${ISS}/.well-known/jwks.json`;

type Reply = { status?: number; headers?: Record<string, string>; json?: unknown; raw?: string } | Error;

/** A fake guarded fetch: a table of URL → reply, counting calls per URL. */
function fakeNetwork(initial: Record<string, Reply>) {
  const routes = new Map(Object.entries(initial));
  const calls = new Map<string, number>();
  const fetch = vi.fn<GuardedFetch>(async (url) => {
    calls.set(url, (calls.get(url) ?? 0) + 1);
    const reply = routes.get(url);
    if (reply === undefined) return { status: 404, headers: {}, body: Buffer.alloc(0), url };
    if (reply instanceof Error) throw new DiscoveryError('network', 'fetch failed', { cause: reply });
    const body = reply.raw ?? JSON.stringify(reply.json);
    const response: GuardedResponse = {
      status: reply.status ?? 200,
      headers: reply.headers ?? {},
      body: Buffer.from(body),
      url,
    };
    return response;
  });
  return {
    fetch,
    set: (url: string, reply: Reply) => routes.set(url, reply),
    count: (url: string) => calls.get(url) ?? 0,
  };
}

function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(seconds: number): void } {
  let now = start;
  return { now: () => now, advance: (seconds) => (now += seconds * 1000) };
}

function jwksOf(...keys: Array<KeyPair | Record<string, unknown>>) {
  return { keys: keys.map((k): unknown => ('privateKey' in k ? { ...(k as KeyPair).jwk, kid: k.kid } : k)) };
}

const agentMetadata = { issuer: ISS, jwks_uri: JWKS_URL };

function setup(
  jwks: unknown,
  options: Partial<HttpKeyResolverOptions> = {},
  metadata: unknown = agentMetadata,
) {
  const network = fakeNetwork({ [METADATA_URL]: { json: metadata }, [JWKS_URL]: { json: jwks } });
  const clock = fakeClock();
  const resolver = createHttpKeyResolver({
    policy: createEgressPolicy(),
    fetch: network.fetch,
    clock,
    ...options,
  });
  return { network, clock, resolver };
}

async function failure(promise: Promise<unknown>): Promise<DiscoveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

describe('createHttpKeyResolver — discovery (Signature-Key §3.6)', () => {
  it('fetches metadata then the JWKS, selects by kid, and caches both and the imported key', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, resolver } = setup(jwksOf(key));
    const resolved = await resolver.resolveKey(ISS, DWK, 'k1');
    expect(resolved.thumbprint).toBe(key.thumbprint);
    expect(resolved.alg).toBe('Ed25519');
    expect(await resolver.resolveKey(ISS, DWK, 'k1')).toBe(resolved);
    expect(network.count(METADATA_URL)).toBe(1);
    expect(network.count(JWKS_URL)).toBe(1);
    expect(network.fetch.mock.calls[1]?.[1]).toEqual({
      accept: 'application/jwk-set+json, application/json',
    });
  });

  it('resolves ES256 keys too', async () => {
    const key = generateKeyPair('ES256', 'p256');
    const { resolver } = setup(jwksOf(key));
    expect((await resolver.resolveKey(ISS, DWK, 'p256')).alg).toBe('ES256');
  });

  it('metadata() returns the checked document with unknown members kept', async () => {
    const { resolver } = setup(jwksOf(), {}, { ...agentMetadata, future_member: [1] });
    expect(await resolver.metadata(ISS, DWK)).toEqual({ ...agentMetadata, future_member: [1] });
  });

  // §Metadata Documents: issuer_missing / issuer_mismatch.
  it('issuer_missing', async () => {
    const { resolver } = setup(jwksOf(), {}, { jwks_uri: JWKS_URL });
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('issuer_missing');
  });

  it.each(['https://agent.example/', 'https://Agent.example', 'https://evil.example'])(
    'issuer_mismatch when the document claims %s',
    async (issuer) => {
      const { network, resolver } = setup(jwksOf(), {}, { issuer, jwks_uri: JWKS_URL });
      expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('issuer_mismatch');
      expect(network.count(JWKS_URL)).toBe(0);
      // The failure is remembered for the minute: no second fetch, same answer.
      expect((await failure(resolver.metadata(ISS, DWK))).reason).toBe('issuer_mismatch');
      expect(network.count(METADATA_URL)).toBe(1);
    },
  );

  it('refuses an iss that is not a server identifier without fetching (egress)', async () => {
    const { network, resolver } = setup(jwksOf());
    for (const iss of [
      'http://agent.example',
      'https://agent.example/',
      'https://agent.example:8443',
      'https://127.0.0.1',
    ]) {
      expect((await failure(resolver.resolveKey(iss, DWK, 'k1'))).reason).toBe('egress');
    }
    expect(network.fetch).not.toHaveBeenCalled();
  });

  it('metadata without jwks_uri cannot yield keys (metadata)', async () => {
    const network = fakeNetwork({
      'https://resource.example/.well-known/aauth-resource.json': {
        json: { issuer: 'https://resource.example' },
      },
    });
    const resolver = createHttpKeyResolver({
      policy: createEgressPolicy(),
      fetch: network.fetch,
      clock: fakeClock(),
    });
    const error = await failure(resolver.resolveKey('https://resource.example', 'aauth-resource.json', 'k1'));
    expect(error.reason).toBe('metadata');
  });

  it('a non-200 metadata answer, or a JWKS that is not JSON, is a network failure', async () => {
    const { network, resolver } = setup(jwksOf());
    network.set(METADATA_URL, { status: 500, json: {} });
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('network');
    const second = setup(jwksOf());
    second.network.set(JWKS_URL, { raw: '<html>' });
    expect((await failure(second.resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('network');
    const third = setup({ keys: 'none' });
    expect((await failure(third.resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('network');
  });

  it('one origin, two roles: the PS and its Agent Provider keep separate key sets', async () => {
    const psKey = generateKeyPair('Ed25519', 'shared-kid');
    const apKey = generateKeyPair('Ed25519', 'shared-kid');
    const network = fakeNetwork({
      'https://ps.example/.well-known/aauth-person.json': {
        json: {
          issuer: 'https://ps.example',
          jwks_uri: 'https://ps.example/.well-known/jwks.json',
          auth_token_endpoint: 'https://ps.example/token',
          person_token_endpoint: 'https://ps.example/person',
        },
      },
      'https://ps.example/.well-known/aauth-agent.json': {
        json: { issuer: 'https://ps.example', jwks_uri: 'https://ps.example/.well-known/agent-jwks.json' },
      },
      'https://ps.example/.well-known/jwks.json': { json: jwksOf(psKey) },
      'https://ps.example/.well-known/agent-jwks.json': { json: jwksOf(apKey) },
    });
    const resolver = createHttpKeyResolver({
      policy: createEgressPolicy(),
      fetch: network.fetch,
      clock: fakeClock(),
    });
    const ps = await resolver.resolveKey('https://ps.example', 'aauth-person.json', 'shared-kid');
    const ap = await resolver.resolveKey('https://ps.example', 'aauth-agent.json', 'shared-kid');
    expect(ps.thumbprint).toBe(psKey.thumbprint);
    expect(ap.thumbprint).toBe(apKey.thumbprint);
  });

  it('concurrent callers share one in-flight fetch', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, resolver } = setup(jwksOf(key));
    const results = await Promise.all(Array.from({ length: 8 }, () => resolver.resolveKey(ISS, DWK, 'k1')));
    expect(new Set(results.map((k) => k.thumbprint))).toEqual(new Set([key.thumbprint]));
    expect(network.count(METADATA_URL)).toBe(1);
    expect(network.count(JWKS_URL)).toBe(1);
  });
});

// §JWKS Discovery and Caching: refresh on unknown kid, once-per-minute floor, stale on failure, 24 h.
describe('createHttpKeyResolver — refresh and caching', () => {
  it('unknown kid: one refetch, then unknown_key', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(key));
    await resolver.resolveKey(ISS, DWK, 'k1');
    clock.advance(61);
    const error = await failure(resolver.resolveKey(ISS, DWK, 'k-unknown'));
    expect(error.reason).toBe('unknown_key');
    expect(network.count(JWKS_URL)).toBe(2);
  });

  it('an unknown kid right after the first fetch does not refetch (floor)', async () => {
    const { network, resolver } = setup(jwksOf(generateKeyPair('Ed25519', 'k1')));
    expect((await failure(resolver.resolveKey(ISS, DWK, 'nope'))).reason).toBe('unknown_key');
    expect(network.count(JWKS_URL)).toBe(1);
  });

  it('the once-per-minute floor holds across different unknown kids', async () => {
    const k1 = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(k1));
    await resolver.resolveKey(ISS, DWK, 'k1');
    clock.advance(61);
    await failure(resolver.resolveKey(ISS, DWK, 'a'));
    expect(network.count(JWKS_URL)).toBe(2);
    clock.advance(30);
    await failure(resolver.resolveKey(ISS, DWK, 'b'));
    expect(network.count(JWKS_URL)).toBe(2);
    clock.advance(31);
    const k2 = generateKeyPair('Ed25519', 'b');
    network.set(JWKS_URL, { json: jwksOf(k1, k2) });
    expect((await resolver.resolveKey(ISS, DWK, 'b')).thumbprint).toBe(k2.thumbprint);
    expect(network.count(JWKS_URL)).toBe(3);
  });

  it('refresh: true refetches once (silent re-keying under the same kid), subject to the floor', async () => {
    const before = generateKeyPair('Ed25519', 'k1');
    const after = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(before));
    expect((await resolver.resolveKey(ISS, DWK, 'k1')).thumbprint).toBe(before.thumbprint);
    network.set(JWKS_URL, { json: jwksOf(after) });
    expect((await resolver.resolveKey(ISS, DWK, 'k1', { refresh: true })).thumbprint).toBe(before.thumbprint);
    expect(network.count(JWKS_URL)).toBe(1);
    clock.advance(60);
    expect((await resolver.resolveKey(ISS, DWK, 'k1', { refresh: true })).thumbprint).toBe(after.thumbprint);
    expect(network.count(JWKS_URL)).toBe(2);
    expect((await resolver.resolveKey(ISS, DWK, 'k1')).thumbprint).toBe(after.thumbprint);
    expect(network.count(JWKS_URL)).toBe(2);
  });

  it('serves the cached JWKS when a refetch fails, until 24 h after it was fetched', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(key));
    await resolver.resolveKey(ISS, DWK, 'k1');
    network.set(JWKS_URL, new Error('ECONNRESET'));
    network.set(METADATA_URL, new Error('ECONNRESET'));
    clock.advance(301); // past the default lifetime
    expect((await resolver.resolveKey(ISS, DWK, 'k1')).thumbprint).toBe(key.thumbprint);
    expect(network.count(JWKS_URL)).toBe(2);
    // An unknown kid whose refresh fails is still unknown_key, not a network error.
    clock.advance(61);
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k2'))).reason).toBe('unknown_key');
    clock.advance(86_400 - 362);
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('network');
  });

  it('honours Cache-Control max-age', async () => {
    const { network, clock, resolver } = setup(jwksOf(generateKeyPair('Ed25519', 'k1')));
    network.set(JWKS_URL, {
      json: jwksOf(generateKeyPair('Ed25519', 'k1')),
      headers: { 'cache-control': 'public, max-age=600' },
    });
    await resolver.resolveKey(ISS, DWK, 'k1');
    clock.advance(599);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(1);
    clock.advance(2);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(2);
  });

  it('caps any lifetime at 24 h', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(key));
    network.set(JWKS_URL, { json: jwksOf(key), headers: { 'cache-control': 'max-age=31536000' } });
    network.set(METADATA_URL, { json: agentMetadata, headers: { 'cache-control': 'max-age=31536000' } });
    await resolver.resolveKey(ISS, DWK, 'k1');
    clock.advance(86_399);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(1);
    clock.advance(2);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(2);
    expect(network.count(METADATA_URL)).toBe(2);
  });

  it('uses the default lifetime (300 s) without cache headers and at least 60 s with no-store', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const { network, clock, resolver } = setup(jwksOf(key));
    await resolver.resolveKey(ISS, DWK, 'k1');
    clock.advance(299);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(1);
    network.set(JWKS_URL, { json: jwksOf(key), headers: { 'cache-control': 'no-store' } });
    clock.advance(2);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(2);
    clock.advance(59);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(2);
    clock.advance(2);
    await resolver.resolveKey(ISS, DWK, 'k1');
    expect(network.count(JWKS_URL)).toBe(3);
  });

  it('bounds the caches (LRU): an evicted issuer is fetched again', async () => {
    const key = generateKeyPair('Ed25519', 'k1');
    const routes: Record<string, Reply> = {};
    for (const host of ['a', 'b', 'c']) {
      routes[`https://${host}.example/.well-known/${DWK}`] = {
        json: { issuer: `https://${host}.example`, jwks_uri: `https://${host}.example/jwks` },
      };
      routes[`https://${host}.example/jwks`] = { json: jwksOf(key) };
    }
    const network = fakeNetwork(routes);
    const resolver = createHttpKeyResolver({
      policy: createEgressPolicy(),
      fetch: network.fetch,
      clock: fakeClock(),
      maxEntries: 2,
    });
    for (const host of ['a', 'b', 'c', 'a']) await resolver.resolveKey(`https://${host}.example`, DWK, 'k1');
    expect(network.count('https://a.example/jwks')).toBe(2);
    expect(network.count('https://c.example/jwks')).toBe(1);
  });
});

describe('createHttpKeyResolver — key selection (§JWKS Discovery and Caching, Signature-Key §3.3)', () => {
  const ED = generateKeyPair('Ed25519', 'ed');

  // "MUST NOT fail because an unselected member names a key type or algorithm it does not implement".
  it('selects the Ed25519 key among unsupported and malformed members', async () => {
    const { resolver } = setup({
      keys: [
        { kty: 'AKP', alg: 'ML-DSA-65', kid: 'pq', pub: 'AAAA' },
        { kty: 'RSA', alg: 'RS256', kid: 'rsa', n: 'xyz', e: 'AQAB' },
        { kty: 'OKP', crv: 'Ed25519', kid: 'no-alg', x: ED.jwk.x },
        'not a key',
        null,
        { kid: 42 },
        { ...ED.jwk, kid: 'ed' },
      ],
    });
    expect((await resolver.resolveKey(ISS, DWK, 'ed')).thumbprint).toBe(ED.thumbprint);
  });

  it.each([
    ['selected key without alg', { kty: 'OKP', crv: 'Ed25519', x: ED.jwk.x }, 'unsupported_key'],
    ['EdDSA', { kty: 'OKP', crv: 'Ed25519', x: ED.jwk.x, alg: 'EdDSA' }, 'unsupported_key'],
    ['ML-DSA-65', { kty: 'AKP', alg: 'ML-DSA-65', pub: 'AAAA' }, 'unsupported_key'],
    ['RS256', { kty: 'RSA', alg: 'RS256', n: 'xyz', e: 'AQAB' }, 'unsupported_key'],
    ['a symmetric key', { kty: 'oct', alg: 'HS256', k: 'c2VjcmV0' }, 'unsupported_key'],
    [
      'kty/crv disagreeing with alg',
      { kty: 'EC', crv: 'P-256', x: ED.jwk.x, y: ED.jwk.x, alg: 'Ed25519' },
      'key',
    ],
    ['crv disagreeing with alg', { kty: 'OKP', crv: 'Ed448', x: ED.jwk.x, alg: 'Ed25519' }, 'key'],
    ['a short x', { kty: 'OKP', crv: 'Ed25519', x: 'AAAA', alg: 'Ed25519' }, 'key'],
    ['a private member', { ...ED.jwk, d: 'AAAA' }, 'key'],
  ])('%s → %s', async (_name, member, reason) => {
    const { resolver } = setup({
      keys: [
        { ...member, kid: 'sel' },
        { ...ED.jwk, kid: 'ed' },
      ],
    });
    const error = await failure(resolver.resolveKey(ISS, DWK, 'sel'));
    expect(error.reason).toBe(reason);
    expect(error.cause).toBeDefined();
    // Remembered per (jwks_uri, kid): the same answer without re-importing; the other key still works.
    expect((await failure(resolver.resolveKey(ISS, DWK, 'sel'))).reason).toBe(reason);
    expect((await resolver.resolveKey(ISS, DWK, 'ed')).thumbprint).toBe(ED.thumbprint);
  });
});

// Signature-Key §7.3: "Treat cross-origin jwks_uri URLs ... as requiring explicit deployment admission."
describe('createHttpKeyResolver — cross-origin jwks_uri', () => {
  const KEY = generateKeyPair('Ed25519', 'k1');
  const CDN = 'https://keys.cdn.example/agent.json';
  function crossOrigin(options: Partial<HttpKeyResolverOptions>) {
    const network = fakeNetwork({
      [METADATA_URL]: { json: { issuer: ISS, jwks_uri: CDN } },
      [CDN]: { json: jwksOf(KEY) },
    });
    const resolver = createHttpKeyResolver({
      policy: createEgressPolicy(),
      fetch: network.fetch,
      clock: fakeClock(),
      ...options,
    });
    return { network, resolver };
  }

  it('is refused by default without fetching the JWKS', async () => {
    const { network, resolver } = crossOrigin({});
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('egress');
    expect(network.count(CDN)).toBe(0);
  });

  it('is refused when another host is listed', async () => {
    const { resolver } = crossOrigin({ allowCrossOriginJwks: ['other.cdn.example'] });
    expect((await failure(resolver.resolveKey(ISS, DWK, 'k1'))).reason).toBe('egress');
  });

  it.each([
    ['allowCrossOriginJwks: true', { allowCrossOriginJwks: true }],
    ['its host listed', { allowCrossOriginJwks: ['keys.cdn.example'] }],
    ['its host in AAUTH_EGRESS_ALLOW', { policy: createEgressPolicy({ allow: 'keys.cdn.example' }) }],
  ])('is admitted with %s', async (_name, options) => {
    const { resolver } = crossOrigin(options);
    expect((await resolver.resolveKey(ISS, DWK, 'k1')).thumbprint).toBe(KEY.thumbprint);
  });
});

describe('responseLifetimeMs', () => {
  const now = Date.UTC(2026, 0, 1);
  it.each([
    [{}, 300_000],
    [{ 'cache-control': 'max-age=120' }, 120_000],
    [{ 'cache-control': 'Public, Max-Age="90"' }, 90_000],
    [{ 'cache-control': 'max-age=120, no-cache' }, 0],
    [{ 'cache-control': 'no-store' }, 0],
    [{ 'cache-control': 'max-age=abc' }, 300_000],
    [{ expires: new Date(now + 3_600_000).toUTCString() }, 3_600_000],
    [
      { expires: new Date(now + 600_000).toUTCString(), date: new Date(now - 100_000).toUTCString() },
      700_000,
    ],
    [{ expires: '0' }, 0],
    [{ 'cache-control': 'max-age=10', expires: new Date(now + 3_600_000).toUTCString() }, 10_000],
  ])('%j → %i ms', (headers, expected) => {
    expect(responseLifetimeMs(headers as Record<string, string>, now, 300_000)).toBe(expected);
  });
});
