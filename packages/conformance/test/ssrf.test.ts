import {
  createEgressPolicy,
  createGuardedFetch,
  createHttpKeyResolver,
  DiscoveryError,
  DWK,
  type EgressPolicy,
} from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signatureErrorCode } from '../src/cases.js';
import { json, type LoopbackOrigins, startLoopbackOrigins } from '../src/egress-harness.js';
import { forgeRequest, injectForged } from '../src/forge.js';
import { RS_ISSUER, type RunningServer, startResourceServer } from '../src/servers.js';

/**
 * SSRF (issue #10, item 5; ARCHITECTURE.md *Outbound fetches*, §JWKS Discovery and Caching): every
 * outbound fetch goes through egress admission. The loopback origin stands in for every remote host;
 * the injected resolver is the DNS; the connector records each address it is asked to dial — so each
 * refusal below is proven to happen before any connection (`dials` empty), not merely reported.
 */

const PUBLIC = '93.184.216.34';
const OTHER_PUBLIC = '93.184.216.35';
let origins: LoopbackOrigins;
const strict: EgressPolicy = createEgressPolicy();
const dev: EgressPolicy = createEgressPolicy({ devMode: true });

beforeAll(async () => {
  origins = await startLoopbackOrigins();
});
afterAll(async () => {
  await origins?.close();
});
beforeEach(() => {
  origins.reset();
  origins.dns.clear();
  origins.dns.set('public.example', [PUBLIC]);
  origins.dns.set('other.example', [OTHER_PUBLIC]);
  origins.dns.set('internal.example', ['10.0.0.5']);
});

async function refusal(promise: Promise<unknown>): Promise<DiscoveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

function guarded(policy = strict, extra: { maxBytes?: number; timeoutMs?: number } = {}) {
  return createGuardedFetch({ policy, resolve: origins.resolve, connect: origins.connect, ...extra });
}

describe('SSRF: redirects', () => {
  it.each([
    ['another host', 'https://internal.example/x'],
    ['a private literal', 'https://10.0.0.5/x'],
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data/'],
    ['loopback', 'https://127.0.0.1/admin'],
    ['an IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/'],
    ['a public host on another name', 'https://other.example/'],
  ])('a redirect to %s is refused; only the first hop was dialled', async (_label, location) => {
    origins.route('public.example/start', (_req, res) => {
      res.writeHead(302, { location });
      res.end();
    });
    const error = await refusal(guarded()('https://public.example/start'));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([PUBLIC]);
  });

  it.each([
    ['an explicit port', 'https://public.example:8443/x'],
    ['a downgrade to http', 'http://public.example/x'],
  ])('a same-host redirect with %s is refused before the second connection', async (_label, location) => {
    origins.route('public.example/start', (_req, res) => {
      res.writeHead(301, { location });
      res.end();
    });
    const error = await refusal(guarded()('https://public.example/start'));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([PUBLIC]);
  });

  it('a same-host name whose DNS answer turns private on the second hop is refused (rebinding)', async () => {
    origins.route('public.example/start', (_req, res) => {
      // The answer changes between the hops: the redirect target is admitted afresh.
      origins.dns.set('public.example', ['192.168.1.1']);
      res.writeHead(302, { location: '/next' });
      res.end();
    });
    const error = await refusal(guarded()('https://public.example/start'));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([PUBLIC]);
  });

  it('redirect loops stop at the limit', async () => {
    origins.route('public.example/loop', (_req, res) => {
      res.writeHead(302, { location: '/loop' });
      res.end();
    });
    const error = await refusal(guarded()('https://public.example/loop'));
    expect(error.message).toMatch(/too many redirects/);
    expect(origins.dials.length).toBe(4);
  });
});

describe('SSRF: DNS answers and literal addresses', () => {
  it.each([
    ['loopback', ['127.0.0.1']],
    ['loopback (127/8)', ['127.1.2.3']],
    ['RFC 1918 10/8', ['10.1.2.3']],
    ['RFC 1918 172.16/12', ['172.16.0.1']],
    ['RFC 1918 192.168/16', ['192.168.0.1']],
    ['link-local / cloud metadata', ['169.254.169.254']],
    ['carrier-grade NAT', ['100.64.0.1']],
    ['unspecified', ['0.0.0.0']],
    ['IPv6 loopback', ['::1']],
    ['IPv6 link-local', ['fe80::1']],
    ['IPv6 unique-local', ['fd00::1']],
    ['IPv4-mapped loopback', ['::ffff:127.0.0.1']],
    ['IPv4-mapped private', ['::ffff:10.0.0.1']],
    ['IPv4-mapped metadata', ['::ffff:169.254.169.254']],
    ['NAT64 of loopback', ['64:ff9b::7f00:1']],
    ['one private among public answers', [PUBLIC, '10.0.0.1']],
  ])('a public name answering %s is refused before any connection', async (_label, addresses) => {
    origins.dns.set('evil.example', addresses);
    const error = await refusal(guarded()('https://evil.example/.well-known/aauth-agent.json'));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([]);
  });

  it.each([
    'https://127.0.0.1/',
    'https://0x7f.0.0.1/',
    'https://2130706433/',
    'https://017700000001/',
    'https://[::1]/',
    'https://[::ffff:7f00:1]/',
    'https://169.254.169.254/',
    'https://[fe80::1%25eth0]/',
    'https://user:pass@public.example/',
  ])('the literal %s is refused before any connection', async (url) => {
    await refusal(guarded()(url));
    expect(origins.dials).toEqual([]);
  });

  it('the same names are reachable when the deployment admits them (AAUTH_EGRESS_ALLOW)', async () => {
    origins.route('internal.example/ok', json({ ok: true }));
    const allowed = createEgressPolicy({ allow: 'internal.example' });
    const response = await guarded(allowed)('https://internal.example/ok');
    expect(response.status).toBe(200);
    expect(origins.dials).toEqual(['10.0.0.5']);
  });
});

describe('SSRF: schemes', () => {
  it.each([
    'http://public.example/',
    'ftp://public.example/',
    'file:///etc/passwd',
    'gopher://public.example/',
  ])('strict mode refuses %s before any connection', async (url) => {
    const error = await refusal(guarded(strict)(url));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([]);
  });

  it('development mode admits http only towards loopback', async () => {
    origins.dns.set('localhost', ['127.0.0.1']);
    origins.route('localhost:3001/ok', json({ ok: true }));
    expect((await guarded(dev)('http://localhost:3001/ok')).status).toBe(200);
    const error = await refusal(guarded(dev)('http://public.example/'));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual(['127.0.0.1']);
  });
});

describe('SSRF: size and time limits', () => {
  it('a response that streams forever is cut at the size limit', async () => {
    origins.route('public.example/forever', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        while (res.write(chunk)) {
          if (res.destroyed) return;
        }
        res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
    const error = await refusal(guarded(strict, { maxBytes: 64 * 1024 })('https://public.example/forever'));
    expect(error.message).toMatch(/larger than 65536 bytes/);
  });

  it('a declared Content-Length above the limit is refused without reading the body', async () => {
    origins.route('public.example/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      res.write('{');
    });
    const error = await refusal(guarded(strict, { maxBytes: 1024 })('https://public.example/big'));
    expect(error.message).toMatch(/larger than 1024 bytes/);
  });

  it('a server that never answers is abandoned at the time limit', async () => {
    origins.route('public.example/hang', () => undefined);
    const error = await refusal(guarded(strict, { timeoutMs: 150 })('https://public.example/hang'));
    expect(error.reason).toBe('network');
    expect(error.message).toBe('no response within 150 ms');
  });

  it('a server that sends headers then stalls the body is abandoned at the time limit', async () => {
    origins.route('public.example/stall', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
    });
    const error = await refusal(guarded(strict, { timeoutMs: 150 })('https://public.example/stall'));
    expect(error.message).toBe('no response within 150 ms');
  });

  it('a resolver that never answers is abandoned at the time limit, before any connection', async () => {
    const fetch = createGuardedFetch({
      policy: strict,
      resolve: () => new Promise(() => undefined),
      connect: origins.connect,
      timeoutMs: 150,
    });
    const error = await refusal(fetch('https://public.example/'));
    expect(error.message).toBe('no response within 150 ms');
    expect(origins.dials).toEqual([]);
  });
});

describe('SSRF: key discovery (§JWKS Discovery and Caching)', () => {
  const crossIssuer = createTestIssuer({ dwk: DWK.agent, issuer: 'https://public.example' });
  const crossMetadata = { ...crossIssuer.metadata, jwks_uri: 'https://other.example/jwks.json' };

  function serveCross(): void {
    origins.route('public.example/.well-known/aauth-agent.json', json(crossMetadata));
    origins.route('other.example/jwks.json', json(crossIssuer.jwks()));
  }

  it('a cross-origin jwks_uri is refused unless allowed; the JWKS host is never dialled', async () => {
    serveCross();
    const resolver = createHttpKeyResolver({
      policy: strict,
      resolve: origins.resolve,
      connect: origins.connect,
      clock: createFakeClock(),
    });
    const error = await refusal(
      resolver.resolveKey(crossIssuer.issuer, DWK.agent, crossIssuer.signingKey.kid),
    );
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([PUBLIC]);
  });

  it('a cross-origin jwks_uri is fetched when its host is allowed', async () => {
    serveCross();
    const resolver = createHttpKeyResolver({
      policy: strict,
      resolve: origins.resolve,
      connect: origins.connect,
      clock: createFakeClock(),
      allowCrossOriginJwks: ['other.example'],
    });
    const key = await resolver.resolveKey(crossIssuer.issuer, DWK.agent, crossIssuer.signingKey.kid);
    expect(key.alg).toBe(crossIssuer.signingKey.alg);
    expect(origins.dials).toEqual([PUBLIC, OTHER_PUBLIC]);
  });

  it('a jwks_uri on the same name but an explicit port is refused at the JWKS hop', async () => {
    const issuer = createTestIssuer({ dwk: DWK.agent, issuer: 'https://public.example' });
    origins.route(
      'public.example/.well-known/aauth-agent.json',
      json({ ...issuer.metadata, jwks_uri: 'https://public.example:8080/jwks.json' }),
    );
    const resolver = createHttpKeyResolver({
      policy: strict,
      resolve: origins.resolve,
      connect: origins.connect,
      clock: createFakeClock(),
    });
    const error = await refusal(resolver.resolveKey(issuer.issuer, DWK.agent, issuer.signingKey.kid));
    expect(error.reason).toBe('egress');
    expect(origins.dials).toEqual([PUBLIC]);
  });
});

describe('SSRF through the resource server (§Agent Token Verification, Signature-Key jwt)', () => {
  let rs: RunningServer;
  const agentKey = makeKeyPair();
  const privateAp = createTestIssuer({ dwk: DWK.agent, issuer: 'https://private.example' });
  const publicAp = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent-public.example' });

  beforeAll(async () => {
    rs = await startResourceServer({
      remoteKeys: createHttpKeyResolver({
        policy: strict,
        resolve: origins.resolve,
        connect: origins.connect,
        clock: createFakeClock(),
      }),
    });
  });
  afterAll(async () => {
    await rs?.close();
  });

  function whoami(ap: typeof privateAp) {
    const token = ap.issue(
      'agent',
      { sub: `aauth:ssrf@${new URL(ap.issuer).hostname}`, cnf: { jwk: agentKey.jwk } } as never,
      { clock: rs.clock },
    );
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
      }),
    );
  }

  it('an agent token whose iss resolves to a private address → 401 Signature-Error, no connection opened', async () => {
    origins.dns.set('private.example', ['10.0.0.7']);
    const before = await rs.countRows();
    const response = await whoami(privateAp);
    expect(response.statusCode).toBe(401);
    expect(signatureErrorCode(response)).toBe('invalid_jwt');
    expect(origins.dials).toEqual([]);
    expect(origins.requests).toEqual([]);
    expect(await rs.countRows()).toEqual(before);
  });

  it('an agent token whose iss resolves to an IPv4-mapped loopback → refused, no connection opened', async () => {
    origins.dns.set('private.example', ['::ffff:127.0.0.1']);
    const response = await whoami(privateAp);
    expect(response.statusCode).toBe(401);
    expect(origins.dials).toEqual([]);
  });

  it('control: the same request from a public issuer is fetched (metadata, JWKS) and accepted', async () => {
    origins.dns.set('agent-public.example', [PUBLIC]);
    origins.serveIssuer(publicAp);
    const response = await whoami(publicAp);
    expect(response.statusCode, response.body).toBe(200);
    expect(origins.dials).toEqual([PUBLIC, PUBLIC]);
  });
});
