import { fetch as hellocoopFetch, verify as hellocoopVerify } from '@hellocoop/httpsig';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { signRequest } from '../../src/httpsig/sign.js';
import type { SignedRequestInput, VerifierDeps } from '../../src/httpsig/types.js';
import { verifyRequestSignature } from '../../src/httpsig/verify.js';
import { STRICT } from '../../src/identifiers.js';
import { exportPrivateJwk, generateKeyPair, type KeyPair, type SigningAlg } from '../../src/jwk.js';
import { createFakeKeyResolver, createFakeTokenVerifier, publicHalf } from './helpers.js';

/**
 * Interop with the spec author's library, `@hellocoop/httpsig` 2.2.0, over the `jwt` scheme.
 * That library stamps `created` from the real clock and checks a JWT `exp` against it, so these tests
 * use the system clock; the JWT is a well-formed compact JWS the fake token verifier accepts (the
 * peer decodes but never verifies it).
 */

function agentJwtFor(holder: KeyPair): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = { alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-1' };
  const payload = {
    iss: 'https://agent.example',
    dwk: 'aauth-agent.json',
    jti: 'interop',
    iat: now,
    exp: now + 3600,
    sub: 'aauth:assistant@agent.example',
    cnf: { jwk: holder.jwk },
  };
  return `${encode(header)}.${encode(payload)}.${Buffer.alloc(64).toString('base64url')}`;
}

function world(alg: SigningAlg) {
  const holder = generateKeyPair(alg, 'holder-1');
  const tokens = createFakeTokenVerifier();
  const jwt = agentJwtFor(holder);
  const decoded = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
  tokens.accept(jwt, {
    kind: 'agent',
    raw: jwt,
    header: { alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-1' },
    claims: decoded,
    cnfKey: publicHalf(holder),
  });
  const deps: VerifierDeps = {
    clock: systemClock,
    tokens,
    keys: createFakeKeyResolver(),
    identifierPolicy: STRICT,
  };
  return { holder, jwt, deps };
}

type HellocoopSigningKey = Parameters<typeof hellocoopFetch>[1]['signingKey'];

function signingKeyOf(pair: KeyPair): HellocoopSigningKey {
  return exportPrivateJwk(pair) as unknown as HellocoopSigningKey;
}

function headersToRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

describe.each(['Ed25519', 'ES256'] as const)('@hellocoop/httpsig interop, %s holder key', (alg) => {
  it('a GET signed by @hellocoop/httpsig verifies with ours', async () => {
    const { holder, jwt, deps } = world(alg);
    const url = 'https://resource.example/api/data?x=1';
    const { headers } = (await hellocoopFetch(url, {
      signingKey: signingKeyOf(holder),
      signatureKey: { type: 'jwt', jwt },
      dryRun: true,
    })) as unknown as { headers: Headers };
    const request: SignedRequestInput = { method: 'GET', url, headers: headersToRecord(headers) };
    const result = await verifyRequestSignature(request, {}, deps);
    expect(result?.scheme).toBe('jwt');
    expect(result?.key.thumbprint).toBe(holder.thumbprint);
  });

  it('a POST with a JSON body signed by @hellocoop/httpsig verifies at a PS/AS route', async () => {
    const { holder, jwt, deps } = world(alg);
    const url = 'https://ps.example/token';
    const body = JSON.stringify({ resource_token: 'abc', justification: 'interop' });
    const { headers } = (await hellocoopFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signingKey: signingKeyOf(holder),
      signatureKey: { type: 'jwt', jwt },
      contentDigest: 'require',
      dryRun: true,
    })) as unknown as { headers: Headers };
    const request: SignedRequestInput = {
      method: 'POST',
      url,
      headers: headersToRecord(headers),
      body: new TextEncoder().encode(body),
    };
    const result = await verifyRequestSignature(request, { requireBodyComponents: true }, deps);
    expect(result?.components).toEqual(
      expect.arrayContaining([
        '"@method"',
        '"@authority"',
        '"@path"',
        '"signature-key"',
        '"content-type"',
        '"content-digest"',
      ]),
    );
  });

  it('a GET we sign verifies with @hellocoop/httpsig', async () => {
    const { holder, jwt } = world(alg);
    const url = new URL('https://resource.example/api/data?x=1');
    const base = { method: 'GET', url: url.href, headers: { host: url.host } };
    const added = signRequest(base, {
      key: holder,
      signatureKey: { scheme: 'jwt', jwt },
      clock: systemClock,
    });
    const result = await hellocoopVerify({
      method: 'GET',
      authority: url.host,
      path: url.pathname,
      query: url.search.slice(1),
      headers: { ...base.headers, ...added },
    });
    expect(result.error).toBeUndefined();
    expect(result.verified).toBe(true);
    expect(result.keyType).toBe('jwt');
    expect(result.jwt?.raw).toBe(jwt);
  });

  it('a POST we sign (content-type + content-digest, Authorization: AAuth) verifies with @hellocoop/httpsig', async () => {
    const { holder, jwt } = world(alg);
    const url = new URL('https://as.example/token');
    const body = new TextEncoder().encode('{"scope":"data.read"}');
    const base = {
      method: 'POST',
      url: url.href,
      headers: { host: url.host, 'content-type': 'application/json', authorization: 'AAuth session-token' },
      body,
    };
    const added = signRequest(base, {
      key: holder,
      signatureKey: { scheme: 'jwt', jwt },
      clock: systemClock,
    });
    const result = await hellocoopVerify(
      {
        method: 'POST',
        authority: url.host,
        path: url.pathname,
        headers: { ...base.headers, ...added } as Record<string, string>,
        body,
      },
      { requireContentDigest: true },
    );
    expect(result.error).toBeUndefined();
    expect(result.verified).toBe(true);
  });

  it('a request we sign and then tamper with is rejected by @hellocoop/httpsig too', async () => {
    const { holder, jwt } = world(alg);
    const url = new URL('https://resource.example/api/data');
    const base = { method: 'GET', url: url.href, headers: { host: url.host } };
    const added = signRequest(base, {
      key: holder,
      signatureKey: { scheme: 'jwt', jwt },
      clock: systemClock,
    });
    const result = await hellocoopVerify({
      method: 'GET',
      authority: url.host,
      path: '/api/admin',
      headers: { ...base.headers, ...added },
    });
    expect(result.verified).toBe(false);
  });
});
