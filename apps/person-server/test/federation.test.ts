import {
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DiscoveryError,
  DWK,
  type GuardedFetch,
  type KeyPair,
  verifyRequestSignature,
} from '@aauth-ref/core';
import { createTestIssuer, makeAuthToken, makeResourceToken, type StubR3Resource } from '@aauth-ref/testkit';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, newKey, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import { createPsR3Resource } from './support/r3-stub.js';
import {
  type BoundAgent,
  bindAgentWithPersonToken,
  decodeClaims,
  openCode,
  requestAuthToken,
  underMission,
} from './support/token-flow.js';

/**
 * §Access Server Federation from the PS's side: a resource token whose `aud` is an AS is brokered to
 * that AS's `auth_token_endpoint`, signed as the PS; the AS here is a stub served through an injected
 * fetch (no socket), which verifies the PS's signature with core's `verifyRequestSignature`.
 */

const AS = 'https://as.example';
const RESOURCE = 'https://resource.example';
const SCOPE = 'data.read data.write';

const otherAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });
const accessServer = createTestIssuer({
  dwk: DWK.access,
  issuer: AS,
  metadata: { auth_token_endpoint: `${AS}/token` },
});

interface AsCall {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, unknown> | undefined;
  readonly signer: { scheme: string; id?: string; dwk?: string };
}

type AsHandler = (call: AsCall, reply: FastifyReply) => unknown;

let t: TestApp;
let r3Resource: StubR3Resource;
let calls: AsCall[];
let handle: AsHandler;
const stub = Fastify();

beforeAll(async () => {
  stub.removeAllContentTypeParsers();
  stub.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const onRequest = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body instanceof Buffer ? request.body : undefined;
    const psKeys = createLocalKeyResolver([
      { issuer: ISSUER, dwk: DWK.person, keys: t.psKeys.published, metadata: { issuer: ISSUER } },
    ]);
    const verified = await verifyRequestSignature(
      {
        method: request.method,
        url: `${AS}${request.url}`,
        headers: request.headers,
        ...(body ? { body } : {}),
      },
      { schemes: ['jwks_uri'], jwksUriDwks: [DWK.person], requireBodyComponents: true },
      {
        clock: t.clock,
        keys: psKeys,
        tokens: createTokenVerifier({ clock: t.clock, keys: psKeys, identifierPolicy: DEV }),
        identifierPolicy: DEV,
      },
    );
    if (verified === undefined) return reply.code(401).send({ error: 'signature_missing' });
    const call: AsCall = {
      method: request.method,
      path: request.url,
      body: body ? JSON.parse(body.toString('utf8')) : undefined,
      signer: verified.signer as AsCall['signer'],
    };
    calls.push(call);
    return handle(call, reply);
  };
  stub.post('/token', onRequest);
  stub.get('/token/pending/:id', onRequest);
  stub.post('/token/pending/:id', onRequest);
  stub.delete('/token/pending/:id', onRequest);
  await stub.ready();

  const federationFetch: GuardedFetch = async (url, request) => {
    const target = new URL(url);
    if (target.origin !== AS) throw new DiscoveryError('egress', 'only the stub access server is reachable');
    const res = await stub.inject({
      method: request?.method ?? 'GET',
      url: target.pathname + target.search,
      headers: { ...request?.headers },
      ...(request?.body ? { payload: Buffer.from(request.body) } : {}),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined)
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { status: res.statusCode, headers, body: res.rawPayload, url };
  };
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([otherAp, resource, accessServer]),
    federationFetch,
    r3Fetch: (url, request) => r3Resource.fetch(url, request),
  });
  r3Resource = createPsR3Resource(t, RESOURCE);
});
afterAll(async () => {
  await t?.close();
  await stub.close();
});
beforeEach(() => {
  calls = [];
});

function fourPartyResourceToken(bound: BoundAgent, scope = SCOPE) {
  return makeResourceToken({
    issuer: resource,
    clock: t.clock,
    aud: AS,
    ps: ISSUER,
    sub: bound.personToken.sub,
    presented_jti: bound.personToken.jti,
    agentKey: bound.agent.key,
    scope,
    ...(bound.personToken.tenant ? { claims: { tenant: bound.personToken.tenant } } : {}),
  });
}

function authToken(
  bound: BoundAgent,
  options: { key?: KeyPair; aud?: string; scope?: string; sub?: string } = {},
): string {
  return makeAuthToken({
    issuer: accessServer,
    clock: t.clock,
    key: options.key ?? bound.agent.key,
    aud: options.aud ?? RESOURCE,
    ps: ISSUER,
    sub: options.sub ?? bound.personToken.sub,
    scope: options.scope ?? 'data.read',
  }).jwt;
}

function grantWith(token: () => string): AsHandler {
  return (_call, reply) =>
    reply.code(200).header('cache-control', 'no-store').send({ auth_token: token(), expires_in: 3600 });
}

async function rejectedEvents(): Promise<number> {
  return t.prisma.securityEvent.count({ where: { event: 'auth_token.rejected' } });
}

describe('four-party token request (§PS-to-AS Token Request, §Auth Token Delivery)', () => {
  it('forwards the request signed as the PS and returns the verified auth token', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    let issued = '';
    handle = grantWith(() => {
      issued = authToken(bound);
      return issued;
    });
    const rt = fourPartyResourceToken(bound);
    const res = await requestAuthToken(t, bound.agent, { resource_token: rt.jwt });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ auth_token: issued, expires_in: expect.any(Number) });
    expect(res.json().expires_in).toBeGreaterThan(0);
    // §PS-to-AS Token Request: signed as the PS (jwks_uri, dwk aauth-person.json), both tokens forwarded.
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      method: 'POST',
      path: '/token',
      signer: { scheme: 'jwks_uri', id: ISSUER, dwk: DWK.person },
      body: { resource_token: rt.jwt, agent_token: bound.agent.jwt },
    });
    const jti = decodeClaims(issued).jti as string;
    const record = await t.prisma.issuedAuthToken.findUnique({ where: { jti } });
    expect(record).toMatchObject({ iss: AS, aud: RESOURCE, sub: bound.personToken.sub, scope: 'data.read' });
  });

  it('answers requirement=claims with sub and the claims asked for, then polls (§Claims Required)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    let claimsAnswer: Record<string, unknown> | undefined;
    handle = (call, reply) => {
      if (call.method === 'POST' && call.path === '/token') {
        return reply
          .code(202)
          .header('location', `${AS}/token/pending/p1`)
          .header('retry-after', '0')
          .header('cache-control', 'no-store')
          .header('aauth-requirement', 'requirement=claims')
          .send({ status: 'pending', required_claims: ['email', 'name', 'phone_number'] });
      }
      if (call.method === 'POST') {
        claimsAnswer = call.body;
        return reply
          .code(202)
          .header('location', `${AS}/token/pending/p1`)
          .header('retry-after', '0')
          .send({ status: 'pending' });
      }
      return reply.code(200).send({ auth_token: authToken(bound), expires_in: 3600 });
    };
    const res = await requestAuthToken(t, bound.agent, { resource_token: fourPartyResourceToken(bound).jwt });
    expect(res.statusCode).toBe(200);
    // No `action` member; only the claims asked for that the person record has.
    expect(claimsAnswer).toEqual({
      sub: bound.personToken.sub,
      email: 'alice@example.com',
      name: expect.any(String),
    });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /token',
      'POST /token/pending/p1',
      'GET /token/pending/p1',
    ]);
    for (const call of calls)
      expect(call.signer).toMatchObject({ scheme: 'jwks_uri', id: ISSUER, dwk: DWK.person });
  });

  it('answers 403 denied when the access server denies', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    handle = (_call, reply) => reply.code(403).send({ error: 'denied' });
    const res = await requestAuthToken(t, bound.agent, { resource_token: fourPartyResourceToken(bound).jwt });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('denied');
  });

  describe('never forwards an auth token failing §Auth Token Delivery (500 server_error, security event)', () => {
    const cases: [string, string, (bound: BoundAgent) => string][] = [
      [
        'broader than the resource token scope (step 6)',
        'scope',
        (b) => authToken(b, { scope: 'data.read admin' }),
      ],
      ['bound to another key (step 4)', 'cnf', (b) => authToken(b, { key: newKey() })],
      [
        'for another audience (step 3)',
        'aud',
        (b) => authToken(b, { aud: 'https://other-resource.example' }),
      ],
      ['for another sub (step 5)', 'sub', (b) => authToken(b, { sub: 'someone-else' })],
      [
        'signed by another key than the AS publishes (step 1)',
        'signature:',
        (b) =>
          makeAuthToken({
            issuer: accessServer,
            signer: newKey(),
            clock: t.clock,
            key: b.agent.key,
            aud: RESOURCE,
            ps: ISSUER,
            sub: b.personToken.sub,
            scope: 'data.read',
          }).jwt,
      ],
    ];
    for (const [name, reason, make] of cases) {
      it(name, async () => {
        const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
        let token = '';
        handle = grantWith(() => {
          token = make(bound);
          return token;
        });
        const before = await rejectedEvents();
        const since = new Date(t.clock.now());
        const res = await requestAuthToken(t, bound.agent, {
          resource_token: fourPartyResourceToken(bound).jwt,
        });
        expect(res.statusCode).toBe(500);
        expect(res.json().error).toBe('server_error');
        expect(res.body).not.toContain(token);
        expect(await rejectedEvents()).toBe(before + 1);
        const event = await t.prisma.securityEvent.findFirst({
          where: { event: 'auth_token.rejected', createdAt: { gte: since } },
        });
        expect(String((event?.detail as { reason?: string } | undefined)?.reason)).toMatch(
          new RegExp(`^${reason}`),
        );
        const jti = decodeClaims(token).jti as string;
        expect(await t.prisma.issuedAuthToken.findUnique({ where: { jti } })).toBeNull();
      });
    }
  });

  it('never relays an interaction URL off the AS origin (§Interaction Required): 500 server_error, security event', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    handle = (_call, reply) =>
      reply
        .code(202)
        .header('location', `${AS}/token/pending/p2`)
        .header('retry-after', '5')
        .header(
          'aauth-requirement',
          'requirement=interaction; url="https://evil.example/interaction"; code="ABCD-EFGH"',
        )
        .send({ status: 'pending' });
    const before = await t.prisma.securityEvent.count({ where: { event: 'as_step.rejected' } });
    const res = await requestAuthToken(t, bound.agent, { resource_token: fourPartyResourceToken(bound).jwt });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('server_error');
    expect(res.body).not.toContain('evil.example');
    expect(await t.prisma.securityEvent.count({ where: { event: 'as_step.rejected' } })).toBe(before + 1);
  });

  it('refuses a 402 with a payment method it cannot settle as server_error (§AS Response "Payment required")', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    handle = (_call, reply) =>
      reply
        .code(402)
        .header('location', `${AS}/token/pending/p3`)
        .header('retry-after', '5')
        .header('www-authenticate', 'Payment id="x7Tg2pLq", method="stripe"')
        .send({ status: 'pending' });
    const res = await requestAuthToken(t, bound.agent, { resource_token: fourPartyResourceToken(bound).jwt });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('server_error');
  });
});

describe('relayed steps (§AS Response, §Deferred Responses, §Polling Error Codes)', () => {
  /** An AS that answers `first` to the token request and `next()` to each poll. */
  function deferring(
    first: (reply: FastifyReply) => unknown,
    next: (reply: FastifyReply) => unknown,
  ): AsHandler {
    return (call, reply) => {
      if (call.method === 'POST' && call.path === '/token') return first(reply);
      if (call.method === 'DELETE') return reply.code(204).send();
      return next(reply);
    };
  }
  const approval = (retryAfter: number) => (reply: FastifyReply) =>
    reply
      .code(202)
      .header('location', `${AS}/token/pending/q1`)
      .header('retry-after', String(retryAfter))
      .header('cache-control', 'no-store')
      .header('aauth-requirement', 'requirement=approval')
      .send({ status: 'pending' });

  async function deferred(bound: BoundAgent, claims?: Record<string, unknown>) {
    const rt = makeResourceToken({
      issuer: resource,
      clock: t.clock,
      aud: AS,
      ps: ISSUER,
      sub: bound.personToken.sub,
      presented_jti: bound.personToken.jti,
      agentKey: bound.agent.key,
      scope: SCOPE,
      ...(claims ? { claims } : {}),
    });
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: rt.jwt,
      justification: 'Read the data.',
    });
    expect(res.statusCode).toBe(202);
    return { res, path: new URL(res.headers.location as string).pathname };
  }
  function pollAt(bound: BoundAgent, path: string, seconds: number) {
    t.clock.advance(seconds * 1000);
    return sendSigned(t, { method: 'GET', path, key: bound.agent.key, signatureKey: bound.agent.jwt });
  }

  it("keeps the AS's pacing: its Retry-After is the agent's, and each poll polls the AS at most once", async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    handle = deferring(approval(10), approval(10));
    const { res, path } = await deferred(bound);
    expect(res.headers['retry-after']).toBe('10');
    expect(res.headers['aauth-requirement']).toBe('requirement=approval');
    expect(calls).toHaveLength(1);
    // Too early for the PS's own pending URL: slow_down, and the AS is not asked.
    const early = await pollAt(bound, path, 2);
    expect(early.statusCode).toBe(429);
    expect(early.json().error).toBe('slow_down');
    expect(calls).toHaveLength(1);
    const polled = await pollAt(bound, path, 10);
    expect(polled.statusCode).toBe(202);
    expect(polled.headers['aauth-requirement']).toBe('requirement=approval');
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /token', 'GET /token/pending/q1']);
    expect(calls[1]!.signer).toMatchObject({ scheme: 'jwks_uri', id: ISSUER, dwk: DWK.person });
  });

  it('never forwards a bad auth token delivered after a relayed step (§Auth Token Delivery)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    let token = '';
    handle = deferring(approval(5), (reply) => {
      token = authToken(bound, { scope: 'data.read admin' });
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .send({ auth_token: token, expires_in: 3600 });
    });
    const { path } = await deferred(bound);
    const before = await rejectedEvents();
    const res = await pollAt(bound, path, 5);
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('server_error');
    expect(res.body).not.toContain(token);
    expect(await rejectedEvents()).toBe(before + 1);
    expect(
      await t.prisma.issuedAuthToken.findUnique({ where: { jti: decodeClaims(token).jti as string } }),
    ).toBeNull();
    // Terminal: the pending URL is gone.
    expect((await pollAt(bound, path, 5)).statusCode).toBe(410);
  });

  it('an AS that keeps deciding is deferred to the agent as a plain 202 (§Deferred Responses)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const deciding = (reply: FastifyReply) =>
      reply
        .code(202)
        .header('location', `${AS}/token/pending/d1`)
        .header('retry-after', '0')
        .header('cache-control', 'no-store')
        .send({ status: 'pending' });
    handle = deferring(deciding, deciding);
    const { res } = await deferred(bound);
    expect(res.headers['aauth-requirement']).toBeUndefined();
    expect(res.headers['retry-after']).toBe('2');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ status: 'pending' });
    // Bounded: the token request and five immediate polls, then the agent waits.
    expect(calls).toHaveLength(6);
  });

  it('the PS pending request expiring is 408 expired and the AS request is cancelled', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    handle = deferring(approval(5), approval(5));
    const { path } = await deferred(bound);
    const res = await pollAt(bound, path, t.config.PENDING_TTL_SECONDS + 1);
    expect(res.statusCode).toBe(408);
    expect(res.json().error).toBe('expired');
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /token', 'DELETE /token/pending/q1']);
    expect((await pollAt(bound, path, 5)).statusCode).toBe(410);
  });

  const terminals: [number, number, string][] = [
    [408, 408, 'expired'],
    [410, 410, 'gone'],
    [400, 500, 'server_error'],
    [500, 500, 'server_error'],
  ];
  for (const [asStatus, status, error] of terminals) {
    it(`maps the AS's ${asStatus} to ${status} ${error} without the AS's detail (§Polling Error Codes)`, async () => {
      const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
      handle = deferring(approval(5), (reply) =>
        reply.code(asStatus).send({ error: 'secret_as_error', detail: 'internal AS detail' }),
      );
      const { path } = await deferred(bound);
      const res = await pollAt(bound, path, 5);
      expect(res.statusCode).toBe(status);
      expect(res.json().error).toBe(error);
      expect(res.body).not.toContain('internal AS detail');
      expect((await pollAt(bound, path, 5)).statusCode).toBe(410);
    });
  }

  it('under a mission: the relayed request and its outcome are in the mission log (§Mission Log)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const s256 = await underMission(t, bound, 3600);
    handle = deferring(approval(5), (reply) =>
      reply.code(200).send({
        auth_token: makeAuthToken({
          issuer: accessServer,
          clock: t.clock,
          lifetimeSeconds: 600,
          key: bound.agent.key,
          aud: RESOURCE,
          ps: ISSUER,
          sub: bound.personToken.sub,
          scope: 'data.read',
          claims: { mission_s256: s256 },
        }).jwt,
        expires_in: 600,
      }),
    );
    const { path } = await deferred(bound, { mission_s256: s256 });
    const res = await pollAt(bound, path, 5);
    expect(res.statusCode).toBe(200);
    const log = await t.prisma.missionLogEntry.findMany({
      where: { missionS256: s256 },
      orderBy: { id: 'asc' },
    });
    expect(log.map((entry) => entry.detail)).toEqual([
      expect.objectContaining({ access_server: AS, decision: 'pending', requirement: 'approval' }),
      expect.objectContaining({ access_server: AS, decision: 'issued', justification: 'Read the data.' }),
    ]);
  });
});

describe('four-party token request, continued', () => {
  it('under a mission: refuses a token outliving expires_at, logs the one that does not', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const s256 = await underMission(t, bound, 600);
    const resourceToken = () =>
      makeResourceToken({
        issuer: resource,
        clock: t.clock,
        aud: AS,
        ps: ISSUER,
        sub: bound.personToken.sub,
        presented_jti: bound.personToken.jti,
        agentKey: bound.agent.key,
        scope: SCOPE,
        claims: { mission_s256: s256 },
      }).jwt;
    const mint = (lifetimeSeconds: number) =>
      makeAuthToken({
        issuer: accessServer,
        clock: t.clock,
        lifetimeSeconds,
        key: bound.agent.key,
        aud: RESOURCE,
        ps: ISSUER,
        sub: bound.personToken.sub,
        scope: 'data.read',
        claims: { mission_s256: s256 },
      }).jwt;
    handle = grantWith(() => mint(3600));
    const outliving = await requestAuthToken(t, bound.agent, {
      resource_token: resourceToken(),
      justification: 'Read the data.',
    });
    expect(outliving.statusCode).toBe(500);
    expect(outliving.json().error).toBe('server_error');
    handle = grantWith(() => mint(300));
    const ok = await requestAuthToken(t, bound.agent, {
      resource_token: resourceToken(),
      justification: 'Read the data.',
    });
    expect(ok.statusCode).toBe(200);
    const log = await t.prisma.missionLogEntry.findMany({
      where: { missionS256: s256 },
      orderBy: { id: 'asc' },
    });
    expect(log.map((entry) => entry.detail)).toEqual([
      expect.objectContaining({
        access_server: AS,
        decision: 'server_error',
        justification: 'Read the data.',
      }),
      expect.objectContaining({ access_server: AS, decision: 'issued', scope: 'data.read' }),
    ]);
  });

  it('refuses a resource token whose aud publishes no AS metadata: 400 invalid_resource_token (§PS-AS Federation)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const rt = makeResourceToken({
      issuer: resource,
      clock: t.clock,
      aud: 'https://unknown-as.example',
      ps: ISSUER,
      sub: bound.personToken.sub,
      presented_jti: bound.personToken.jti,
      agentKey: bound.agent.key,
      scope: SCOPE,
    });
    const res = await requestAuthToken(t, bound.agent, { resource_token: rt.jwt });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_resource_token');
    expect(calls).toHaveLength(0);
  });

  it('forwards an AS token carrying the R3 document the resource token named, refuses one naming another (R3 §Auth Token Extensions)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    // R3 §R3 Processing: the PS fetches and verifies the document in four-party access too.
    const r3 = r3Resource.publish({
      vocabulary: 'urn:aauth:vocabulary:mcp',
      operations: [{ tool: 'list_notes' }],
    });
    const r3Token = (s256: string) =>
      makeAuthToken({
        issuer: accessServer,
        clock: t.clock,
        key: bound.agent.key,
        aud: RESOURCE,
        ps: ISSUER,
        sub: bound.personToken.sub,
        scope: 'data.read',
        claims: {
          r3_uri: r3.r3_uri,
          r3_s256: s256,
          r3_granted: { vocabulary: 'urn:aauth:vocabulary:mcp', operations: [{ tool: 'list_notes' }] },
        },
      }).jwt;
    const before = await rejectedEvents();
    handle = grantWith(() => r3Token('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    const refused = await requestAuthToken(t, bound.agent, { resource_token: fourPartyRt(bound, r3).jwt });
    expect([refused.statusCode, refused.json().error]).toEqual([500, 'server_error']);
    expect(await rejectedEvents()).toBe(before + 1);
    handle = grantWith(() => r3Token(r3.r3_s256));
    // Under a mission, the log names the R3 document by hash and the operations granted.
    const mission = await underMission(t, bound, 3600);
    const ok = await requestAuthToken(t, bound.agent, {
      resource_token: fourPartyRt(bound, { ...r3, mission_s256: mission }).jwt,
    });
    expect(ok.statusCode).toBe(200);
    expect(decodeClaims(ok.json().auth_token).r3_s256).toBe(r3.r3_s256);
    const log = await t.prisma.missionLogEntry.findMany({ where: { missionS256: mission } });
    expect(log.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        decision: 'issued',
        r3_uri: r3.r3_uri,
        r3_s256: r3.r3_s256,
        r3_granted: [{ tool: 'list_notes' }],
      }),
    ]);
  });
});

function fourPartyRt(bound: BoundAgent, claims: Record<string, unknown>) {
  return makeResourceToken({
    issuer: resource,
    clock: t.clock,
    aud: AS,
    ps: ISSUER,
    sub: bound.personToken.sub,
    presented_jti: bound.personToken.jti,
    agentKey: bound.agent.key,
    scope: SCOPE,
    claims: { ...claims, ...(bound.personToken.tenant ? { tenant: bound.personToken.tenant } : {}) },
  });
}

describe('four-party R3: the PS renders display (R3 §R3 Processing)', () => {
  const AS_CODE = 'WXYZ-2345';
  const interactionStep: AsHandler = (_call, reply) =>
    reply
      .code(202)
      .header('location', `${AS}/token/pending/r3`)
      .header('retry-after', '0')
      .header('cache-control', 'no-store')
      .header('aauth-requirement', `requirement=interaction; url="${AS}/interaction"; code="${AS_CODE}"`)
      .send({ status: 'pending' });

  it("gives the agent the PS's own interaction; the PS page shows display (inert markup) and links on to the AS", async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const r3 = r3Resource.publish({
      vocabulary: 'urn:aauth:vocabulary:mcp',
      operations: [{ tool: 'delete_note' }],
      display: {
        summary: '<img src=x onerror=alert(1)>Delete your notes',
        implications: 'Notes are removed.',
        irreversible: 'Deleted notes cannot be restored',
      },
    });
    handle = interactionStep;
    const fetchedBefore = r3Resource.requests.length;
    const res = await requestAuthToken(t, bound.agent, { resource_token: fourPartyRt(bound, r3).jwt });
    expect(res.statusCode).toBe(202);
    // Fetched signed as the PS (the stub refuses any other signer) and hash-verified.
    expect(r3Resource.requests.slice(fetchedBefore)).toEqual([r3.r3_uri]);
    const requirement = String(res.headers['aauth-requirement']);
    expect(requirement).toContain(`url="${ISSUER}/interaction"`);
    expect(requirement).not.toContain(AS_CODE);
    const code = /code="([^"]+)"/.exec(requirement)?.[1];
    expect(code).toBeDefined();

    const { page } = await openCode(t, code!);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt;Delete your notes');
    expect(page.body).not.toContain('<img');
    expect(page.body).toContain('Notes are removed.');
    expect(page.body).toContain('Deleted notes cannot be restored');
    expect(page.body).toContain('Use the tool “delete_note”');
    expect(page.body).toContain(r3.r3_s256);
    expect(page.body).toContain(`href="${AS}/interaction?code=${AS_CODE}"`);

    // The person is at the PS page: the agent hears "interacting", no second code.
    t.clock.advance(5000);
    const polled = await sendSigned(t, {
      method: 'GET',
      path: new URL(String(res.headers.location), ISSUER).pathname,
      key: bound.agent.key,
      signatureKey: bound.agent.jwt,
    });
    expect(polled.statusCode).toBe(202);
    expect(polled.json()).toEqual({ status: 'interacting' });
    expect(polled.headers['aauth-requirement']).toBeUndefined();

    // The person decided at the AS: the next poll delivers the AS's token.
    handle = grantWith(
      () =>
        makeAuthToken({
          issuer: accessServer,
          clock: t.clock,
          key: bound.agent.key,
          aud: RESOURCE,
          ps: ISSUER,
          sub: bound.personToken.sub,
          scope: 'data.read',
          claims: {
            ...r3,
            r3_granted: { vocabulary: 'urn:aauth:vocabulary:mcp', operations: [{ tool: 'delete_note' }] },
          },
        }).jwt,
    );
    t.clock.advance(5000);
    const done = await sendSigned(t, {
      method: 'GET',
      path: new URL(String(res.headers.location), ISSUER).pathname,
      key: bound.agent.key,
      signatureKey: bound.agent.jwt,
    });
    expect(done.statusCode).toBe(200);
    expect(decodeClaims(done.json().auth_token).r3_s256).toBe(r3.r3_s256);
  });

  it('refuses a document that does not hash to r3_s256 before asking the AS: 400 invalid_resource_token (§Hash Verification)', async () => {
    const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    const r3 = r3Resource.publish({
      vocabulary: 'urn:aauth:vocabulary:mcp',
      operations: [{ tool: 'list_notes' }],
    });
    handle = interactionStep;
    const before = calls.length;
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: fourPartyRt(bound, { ...r3, r3_s256: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
        .jwt,
    });
    expect([res.statusCode, res.json().error]).toEqual([400, 'invalid_resource_token']);
    expect(calls.length).toBe(before);
  });
});
