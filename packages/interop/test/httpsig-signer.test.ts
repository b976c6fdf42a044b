import type { AgentOptions } from '@aauth-ref/agent';
import {
  DEV,
  exportPrivateJwk,
  generateKeyPair,
  jwkThumbprint,
  type KeyPair,
  parseAAuthRequirement,
} from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { type HttpSigFetchOptions, fetch as httpsigFetch, verify as httpsigVerify } from '@hellocoop/httpsig';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestAgent, type TestAgent } from '../../e2e/test/support/agents.js';
import { type Stack, startStack } from '../../e2e/test/support/stack.js';

/**
 * `@hellocoop/httpsig` 2.2.0 (the spec author's RFC 9421 + Signature-Key library) against our servers,
 * both directions (interop-demo-profile.md, the signing every surface rests on):
 * - requests httpsig signs, with its own Signature-Key encoding, sent to our resource (`jwt`, an agent
 *   token our AP issued) and to our Agent Provider (`hwk`, an enrollment request);
 * - requests our SDK signs (`hwk` enrollment, `jkt-jwt` refresh, `jwt` resource and PS calls) verified
 *   by httpsig's `verify` from the exact bytes the SDK sent.
 * httpsig does not verify the JWT of the `jwt` scheme (it takes `cnf.jwk` as given) nor enforce AAuth's
 * covered components; both are our servers' job, and the tests check only what it does verify.
 */

interface SentRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

/** A private key as the JWK httpsig signs with (its `signingKey`). */
const signingKey = (key: KeyPair) => exportPrivateJwk(key) as unknown as HttpSigFetchOptions['signingKey'];

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
/** Every request our SDK sent, with its body bytes (for httpsig's content-digest check). */
const sent: SentRequest[] = [];

const rsUrl = (path: string) => new URL(path, stack.rs.issuer).href;

/** httpsig's verifier over one request our SDK sent, exactly as sent. */
function verifyWithHttpsig(request: SentRequest) {
  const url = new URL(request.url);
  return httpsigVerify(
    {
      method: request.method,
      authority: url.host,
      path: url.pathname,
      query: url.search ? url.search.slice(1) : undefined,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
    },
    {
      // The SDK signed on the fake clock, possibly minutes before this check; freshness is the servers'
      // concern (tested in their suites), signature bytes are what this checks.
      maxClockSkew: 3600,
    },
  );
}

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  const recording: AgentOptions['fetch'] = async (url, init) => {
    const body = init.body;
    sent.push({
      method: init.method ?? 'GET',
      url,
      headers: { ...((init.headers ?? {}) as Record<string, string>) },
      body:
        body === undefined || body === null ? undefined : Buffer.from(body as Uint8Array).toString('utf8'),
    });
    return fetch(url, init);
  };
  test = createTestAgent({ clock, account: stack.alice, agent: { fetch: recording } });
  await test.agent.enroll(stack.ps.issuer, { name: 'httpsig interop', platform: 'interop' });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('@hellocoop/httpsig 2.2.0 signs, our servers verify', () => {
  // httpsig stamps `created` from the real clock and takes no clock of ours: the servers' fake clock
  // is set to now before each request so that `created` is neither in their future nor stale.
  beforeEach(() => {
    clock.set(Date.now());
  });

  it('jwt scheme: an httpsig-signed GET with our agent token is served by /api/agent/whoami (§Agent Identity Access)', async () => {
    const { key, agentToken } = await test.credentials();
    const res = await httpsigFetch(rsUrl('/api/agent/whoami'), {
      signingKey: signingKey(key),
      signatureKey: { type: 'jwt', jwt: agentToken },
    });
    expect(res.status).toBe(200);
    const identity = await test.agent.whoami();
    expect(await res.json()).toMatchObject({ agent: identity.agent, key_thumbprint: key.thumbprint });
  });

  it('jwt scheme with a body: httpsig covers content-digest and our resource verifies it (answering with the access challenge, not a signature error)', async () => {
    const { key, agentToken } = await test.credentials();
    const res = (await httpsigFetch(rsUrl('/api/notes'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'milk' }),
      signingKey: signingKey(key),
      signatureKey: { type: 'jwt', jwt: agentToken },
    })) as Response;
    expect(res.headers.get('signature-error')).toBeNull();
    expect(res.status).toBe(401);
    expect(parseAAuthRequirement(res.headers.get('aauth-requirement')!, DEV)?.requirement).toBe(
      'person-token',
    );
  });

  it('jwt scheme: a body altered after httpsig signed it is refused with Signature-Error (RFC 9530 content-digest)', async () => {
    const { key, agentToken } = await test.credentials();
    const { headers } = (await httpsigFetch(rsUrl('/api/notes'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'milk' }),
      signingKey: signingKey(key),
      signatureKey: { type: 'jwt', jwt: agentToken },
      dryRun: true,
    })) as { headers: Headers };
    const res = await fetch(rsUrl('/api/notes'), {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: 'eggs' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=/);
  });

  it('hwk scheme: an httpsig-signed enrollment request is accepted by our Agent Provider (202, pending)', async () => {
    const key = generateKeyPair('Ed25519');
    const metadata = (await (await fetch(`${stack.ps.issuer}/.well-known/aauth-agent.json`)).json()) as {
      enrollment_endpoint: string;
    };
    const res = (await httpsigFetch(metadata.enrollment_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ps: stack.ps.issuer, name: 'httpsig hwk agent' }),
      signingKey: signingKey(key),
      signatureKey: { type: 'hwk' },
    })) as Response;
    expect(res.headers.get('signature-error')).toBeNull();
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(new RegExp(`^${stack.ps.issuer}/`));
    expect(parseAAuthRequirement(res.headers.get('aauth-requirement')!, DEV)?.requirement).toBe(
      'interaction',
    );
  });
});

describe('our SDK signs, @hellocoop/httpsig 2.2.0 verifies', () => {
  it('hwk: the enrollment POST (body covered by content-digest) verifies, key = the durable key', async () => {
    const enrollment = sent.find((r) => r.headers['signature-key']?.startsWith('sig=hwk'));
    expect(enrollment).toBeDefined();
    const result = await verifyWithHttpsig(enrollment!);
    expect(result).toMatchObject({ verified: true, keyType: 'hwk', label: 'sig' });
    const identity = await test.agent.whoami();
    expect(result.thumbprint).toBe(identity.durable_jkt);
  });

  it('jkt-jwt: the two-key refresh verifies with the ephemeral key the durable key names', async () => {
    const refresh = sent.find((r) => r.headers['signature-key']?.startsWith('sig=jkt-jwt'));
    expect(refresh).toBeDefined();
    const result = await verifyWithHttpsig(refresh!);
    expect(result).toMatchObject({ verified: true, keyType: 'jkt_jwt' });
    const identity = await test.agent.whoami();
    // httpsig names the identity key as the `urn:jkt:sha-256:` URN of the naming JWT's `iss`.
    expect(result.jkt_jwt?.identityThumbprint).toBe(`urn:jkt:sha-256:${identity.durable_jkt}`);
  });

  it('jwt: a resource GET and a PS POST signed with the agent token verify; the key is cnf.jwk', async () => {
    const from = sent.length;
    const res = await test.agent.fetch(rsUrl('/api/agent/whoami'));
    expect(res.status).toBe(200);
    const get = sent.slice(from).find((r) => r.url === rsUrl('/api/agent/whoami'));
    const getResult = await verifyWithHttpsig(get!);
    expect(getResult).toMatchObject({ verified: true, keyType: 'jwt' });
    const { key, agentToken } = await test.credentials();
    expect(getResult.thumbprint).toBe(key.thumbprint);
    expect(getResult.jwt?.raw).toBe(agentToken);
    expect(jwkThumbprint(getResult.publicKey as Parameters<typeof jwkThumbprint>[0])).toBe(key.thumbprint);
    // A signed POST with a body: the person token request to our PS (alice approves in her browser).
    const before = sent.length;
    expect((await test.agent.fetch(rsUrl('/api/me'))).status).toBe(200);
    const post = sent
      .slice(before)
      .find((r) => r.method === 'POST' && r.url.startsWith(stack.ps.issuer) && r.body !== undefined);
    expect(post).toBeDefined();
    const postResult = await verifyWithHttpsig(post!);
    expect(postResult).toMatchObject({ verified: true, keyType: 'jwt' });
  });

  it('a request our SDK signed, with one covered header changed, fails httpsig verification', async () => {
    const get = sent.find((r) => r.url === rsUrl('/api/agent/whoami'));
    const tampered = { ...get!, url: rsUrl('/api/agent/whoami').replace('whoami', 'whoami2') };
    const result = await verifyWithHttpsig(tampered);
    expect(result.verified).toBe(false);
  });
});
