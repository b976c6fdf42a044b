import {
  createEgressPolicy,
  createGuardedFetch,
  createHttpKeyResolver,
  createLocalKeyResolver,
  DWK,
  type EgressConnector,
} from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, makeKeyPair, makeResourceToken } from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../apps/person-server/test/support/app-harness.js';
import {
  bindAgentWithPersonToken,
  requestAuthToken,
} from '../../../apps/person-server/test/support/token-flow.js';
import { signatureErrorCode } from '../src/cases.js';
import { type LoopbackOrigins, startLoopbackOrigins } from '../src/egress-harness.js';
import { forgeRequest, injectForged } from '../src/forge.js';
import { RS_ISSUER, type RunningServer, startResourceServer } from '../src/servers.js';

/**
 * Quick fault injection (issue #10, item 6), each bounded to a few seconds of wall time: a dead JWKS
 * endpoint after a good fetch, a hanging metadata endpoint, an unreachable AS behind the PS, and
 * clocks that disagree between servers. Remote origins are the loopback harness (no socket leaves
 * 127.0.0.1); time is the servers' fake clocks, never measured.
 */

const PUBLIC = '93.184.216.34';
const strict = createEgressPolicy();
let origins: LoopbackOrigins;

beforeAll(async () => {
  origins = await startLoopbackOrigins();
});
afterAll(async () => {
  await origins?.close();
});
beforeEach(() => {
  origins.reset();
});

const agentKey = makeKeyPair();

function whoami(rs: RunningServer, token: string, options: { createdOffset?: number } = {}) {
  return injectForged(
    rs.app,
    RS_ISSUER,
    forgeRequest({
      method: 'GET',
      path: '/api/agent/whoami',
      issuer: RS_ISSUER,
      clock: rs.clock,
      key: agentKey,
      signatureKey: token,
      ...options,
    }),
  );
}

describe('faults: JWKS endpoint down after a first fetch (§JWKS Discovery and Caching)', () => {
  const ap = createTestIssuer({
    dwk: DWK.agent,
    issuer: 'https://ap-flaky.example',
    keys: [makeKeyPair('Ed25519', 'k1')],
  });
  const rotated = makeKeyPair('Ed25519', 'k-unknown');
  const keyClock = createFakeClock();
  let rs: RunningServer;

  beforeAll(async () => {
    origins.dns.set('ap-flaky.example', [PUBLIC]);
    rs = await startResourceServer({
      remoteKeys: createHttpKeyResolver({
        policy: strict,
        resolve: origins.resolve,
        connect: origins.connect,
        clock: keyClock,
      }),
    });
  });
  afterAll(async () => {
    await rs?.close();
  });

  const token = (signer = ap.signingKey) =>
    ap.issue('agent', { sub: 'aauth:flaky@ap-flaky.example', cnf: { jwk: agentKey.jwk } } as never, {
      clock: rs.clock,
      signer,
    });
  const advance = (ms: number) => {
    rs.clock.advance(ms);
    keyClock.advance(ms);
  };
  const down = (_req: unknown, res: { writeHead: (s: number) => void; end: () => void }) => {
    res.writeHead(503);
    res.end();
  };

  it('keys fetched once keep verifying while the issuer is down; an unknown kid → unknown_key', async () => {
    origins.serveIssuer(ap, 300);
    expect((await whoami(rs, token())).statusCode).toBe(200);
    expect(origins.requests).toEqual([
      'ap-flaky.example/.well-known/aauth-agent.json',
      'ap-flaky.example/jwks.json',
    ]);

    // The issuer goes down: metadata and JWKS answer 503 from now on.
    origins.route('ap-flaky.example/.well-known/aauth-agent.json', down);
    origins.route('ap-flaky.example/jwks.json', down);
    origins.reset();

    advance(10_000);
    expect((await whoami(rs, token())).statusCode).toBe(200);
    expect(origins.requests, 'fresh cache: no fetch').toEqual([]);

    // A token under a kid the cached JWKS does not have: within the refetch floor nothing is fetched.
    const unknown = await whoami(rs, token(rotated));
    expect(unknown.statusCode).toBe(401);
    expect(signatureErrorCode(unknown)).toBe('unknown_key');

    // Past the cache lifetime, the last good copy is served while refetches fail.
    advance(400_000);
    origins.reset();
    expect((await whoami(rs, token())).statusCode).toBe(200);
    const again = await whoami(rs, token(rotated));
    expect(again.statusCode).toBe(401);
    expect(signatureErrorCode(again)).toBe('unknown_key');
    // At most one attempt per URL per minute, failures included.
    const perUrl = new Map<string, number>();
    for (const r of origins.requests) perUrl.set(r, (perUrl.get(r) ?? 0) + 1);
    for (const [url, count] of perUrl) expect(count, url).toBe(1);
  });
});

describe('faults: a hanging metadata endpoint', () => {
  const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://ap-hang.example' });
  let rs: RunningServer;

  beforeAll(async () => {
    origins.dns.set('ap-hang.example', [PUBLIC]);
    origins.route('ap-hang.example/.well-known/aauth-agent.json', () => undefined);
    rs = await startResourceServer({
      remoteKeys: createHttpKeyResolver({
        policy: strict,
        fetch: createGuardedFetch({
          policy: strict,
          resolve: origins.resolve,
          connect: origins.connect,
          timeoutMs: 300,
        }),
        clock: createFakeClock(),
      }),
    });
  });
  afterAll(async () => {
    await rs?.close();
  });

  it('the request is refused at the fetch time limit; the server answers others meanwhile', async () => {
    const token = ap.issue('agent', { sub: 'aauth:h@ap-hang.example', cnf: { jwk: agentKey.jwk } } as never, {
      clock: rs.clock,
    });
    const hanging = whoami(rs, token);
    const [health, metadata] = await Promise.all([
      rs.app.inject({ method: 'GET', url: '/healthz' }),
      rs.app.inject({ method: 'GET', url: '/.well-known/aauth-resource.json' }),
    ]);
    expect(health.statusCode).toBe(200);
    expect(metadata.statusCode).toBe(200);
    const response = await hanging;
    expect(response.statusCode).toBe(401);
    expect(signatureErrorCode(response)).toBe('invalid_jwt');
    expect(origins.requests).toEqual(['ap-hang.example/.well-known/aauth-agent.json']);
  });
});

describe('faults: the AS unreachable from the PS (§Access Server Federation, §Deferred Response State Machine)', () => {
  const AS = 'https://as-down.example';
  const RESOURCE = 'https://resource.example';
  const otherAp = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
  const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });
  const accessServer = createTestIssuer({
    dwk: DWK.access,
    issuer: AS,
    metadata: { auth_token_endpoint: `${AS}/token` },
  });
  let mode: 'refused' | 'hang' = 'refused';
  let t: TestApp;

  beforeAll(async () => {
    origins.dns.set('as-down.example', [PUBLIC]);
    origins.route('as-down.example/token', () => undefined);
    const connect: EgressConnector = (options, callback) => {
      if (mode === 'refused') {
        origins.dials.push(String(options.hostname));
        callback(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), null);
        return;
      }
      origins.connect(options, callback);
    };
    t = await startTestApp({
      remoteKeys: createLocalKeyResolver([otherAp, resource, accessServer]),
      federationFetch: createGuardedFetch({
        policy: strict,
        resolve: origins.resolve,
        connect,
        timeoutMs: 300,
      }),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(['refused', 'hang'] as const)(
    'AS connection %s → 503 temporarily_unavailable with Retry-After; no auth token recorded',
    async (fault) => {
      mode = fault;
      const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
      const rt = makeResourceToken({
        issuer: resource,
        clock: t.clock,
        aud: AS,
        ps: 'http://localhost:3001',
        sub: bound.personToken.sub,
        presented_jti: bound.personToken.jti,
        agentKey: bound.agent.key,
        scope: 'data.read',
      });
      const issuedBefore = await t.prisma.issuedAuthToken.count();
      origins.reset();
      const res = await requestAuthToken(t, bound.agent, { resource_token: rt.jwt });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error).toBe('temporarily_unavailable');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.headers['signature-error']).toBeUndefined();
      expect(await t.prisma.issuedAuthToken.count()).toBe(issuedBefore);
      expect(origins.dials).toEqual([PUBLIC]);
      if (fault === 'hang') expect(origins.requests).toEqual(['as-down.example/token']);
      // The PS itself stays up.
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    },
  );
});

describe('faults: clock skew between servers (§Signature Verification, §Token Verification)', () => {
  let rs: RunningServer;
  beforeAll(async () => {
    rs = await startResourceServer();
  });
  afterAll(async () => {
    await rs?.close();
  });

  /** An agent token minted by an AP whose clock is `skewSeconds` off the resource's. */
  function tokenFromSkewedAp(skewSeconds: number, lifetimeSeconds = 3600): string {
    const apClock = createFakeClock(rs.clock.now() + skewSeconds * 1000);
    return rs.parties.ap.issue(
      'agent',
      { sub: 'aauth:skew@agent.example', cnf: { jwk: agentKey.jwk } } as never,
      { clock: apClock, lifetimeSeconds },
    );
  }

  it.each([
    [-59, 200],
    [-61, 401],
    [0, 200],
    [5, 200],
    [6, 401],
    [300, 401],
  ])('agent clock off by %i s when signing (created) → %i', async (offset, status) => {
    const response = await whoami(rs, tokenFromSkewedAp(0), { createdOffset: offset });
    expect(response.statusCode).toBe(status);
    if (status === 401) expect(signatureErrorCode(response)).toBe('invalid_signature');
  });

  it.each([
    [30, 200],
    [60, 200],
    [61, 401],
    [3600, 401],
  ])('AP clock ahead by %i s (token iat in the resource’s future) → %i', async (ahead, status) => {
    const response = await whoami(rs, tokenFromSkewedAp(ahead));
    expect(response.statusCode).toBe(status);
    if (status === 401) expect(signatureErrorCode(response)).toBe('invalid_jwt');
  });

  it('AP clock behind so far that its token has already expired at the resource → expired_jwt', async () => {
    const response = await whoami(rs, tokenFromSkewedAp(-3601, 3600));
    expect(response.statusCode).toBe(401);
    expect(signatureErrorCode(response)).toBe('expired_jwt');
  });
});
