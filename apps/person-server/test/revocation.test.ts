import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEgressPolicy,
  createGuardedPost,
  createLocalKeyResolver,
  createOutboundSigner,
  createTokenVerifier,
  DEV,
  DiscoveryError,
  DWK,
  type KeyPair,
  type OutboundRequest,
  verifyRequestSignature,
} from '@aauth-ref/core';
import {
  buildSignedRequest,
  createTestIssuer,
  injectBuilt,
  makeAgentToken,
  type TestIssuer,
} from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';

/** Parties elsewhere, answered by the injected key resolver (no network). */
const otherAp = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const trustedAs = createTestIssuer({ dwk: DWK.access, issuer: 'https://as.example' });
const stranger = createTestIssuer({ dwk: DWK.access, issuer: 'https://stranger.example' });
const RESOURCE = 'https://resource.example';
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: RESOURCE,
  metadata: {
    revocation_endpoint: `${RESOURCE}/revoke`,
    // `x-tenant` is a header the PS's notice does not carry: it is left out, the rest covered.
    additional_signature_components: ['content-type', 'content-digest', '@target-uri', 'x-tenant'],
  },
});
const DOWN = 'https://down.example';
const downResource = createTestIssuer({
  dwk: DWK.resource,
  issuer: DOWN,
  metadata: { revocation_endpoint: `${DOWN}/revoke` },
});
const SILENT = 'https://silent.example';
const silentResource = createTestIssuer({ dwk: DWK.resource, issuer: SILENT });

let t: TestApp;
const sent: OutboundRequest[] = [];
/** Held notices: the test decides when the resource answers. */
let gate: Promise<void> | undefined;

beforeAll(async () => {
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([
      otherAp,
      trustedAs,
      stranger,
      resource,
      downResource,
      silentResource,
    ]),
    env: { REVOCATION_TRUSTED_ISSUERS: trustedAs.issuer },
    outboundFetch: async (request) => {
      sent.push(request);
      if (gate) await gate;
      if (request.url.startsWith(DOWN)) throw new DiscoveryError('network', 'connection refused');
      return { status: 200 };
    },
  });
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  sent.length = 0;
  gate = undefined;
});

function jwksUriMember(issuer: TestIssuer) {
  return { scheme: 'jwks_uri' as const, id: issuer.issuer, dwk: issuer.dwk, kid: issuer.signingKey.kid };
}

function revokeAs(issuer: TestIssuer, body: unknown) {
  return sendSigned(t, {
    method: 'POST',
    path: '/revoke',
    key: issuer.signingKey,
    signatureKey: jwksUriMember(issuer),
    body: body as Record<string, unknown>,
  });
}

/** This origin's own Agent Provider (same issuer, `aauth-agent.json`, the AP key ring). */
function revokeAsOwnAp(body: Record<string, unknown>) {
  const key: KeyPair = t.apKeys.active;
  return sendSigned(t, {
    method: 'POST',
    path: '/revoke',
    key,
    signatureKey: { scheme: 'jwks_uri', id: ISSUER, dwk: DWK.agent, kid: key.kid },
    body,
  });
}

function newForeignAgent() {
  return makeAgentToken({ issuer: otherAp, clock: t.clock, ps: ISSUER });
}

function requestPersonToken(agent: ReturnType<typeof newForeignAgent>) {
  return sendSigned(t, {
    method: 'POST',
    path: '/person',
    key: agent.key,
    signatureKey: agent.jwt,
    body: { resource: RESOURCE, capabilities: ['interaction'] },
  });
}

let counter = 0;
function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 10)}`;
}

async function personId(username: string): Promise<string> {
  return (await t.prisma.person.findUniqueOrThrow({ where: { username } })).id;
}

/** Records as the token services would: an agent token of this AP and auth tokens issued for it. */
async function seedOwnAgentWithAuthTokens(resources: readonly string[]) {
  const now = t.clock.now();
  const agentSub = `aauth:${uniqueId('agent')}@localhost`;
  const agentJti = uniqueId('agent-jti');
  const alice = await personId('alice');
  await t.prisma.issuedAgentToken.create({
    data: {
      jti: agentJti,
      sub: agentSub,
      cnfJkt: 'jkt',
      issuedAt: new Date(now),
      expiresAt: new Date(now + 3_600_000),
    },
  });
  const authJtis: string[] = [];
  for (const aud of resources) {
    const jti = uniqueId('auth-jti');
    authJtis.push(jti);
    await t.prisma.issuedAuthToken.create({
      data: {
        jti,
        iss: ISSUER,
        aud,
        sub: 'directed-sub',
        scope: 'read',
        personId: alice,
        agentIss: ISSUER,
        agentSub,
        cnfJkt: 'jkt',
        issuedAt: new Date(now),
        exp: new Date(now + 3_600_000),
      },
    });
  }
  // Already expired: nothing to tell the resource.
  const expiredJti = uniqueId('auth-expired');
  await t.prisma.issuedAuthToken.create({
    data: {
      jti: expiredJti,
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'directed-sub',
      personId: alice,
      agentIss: ISSUER,
      agentSub,
      cnfJkt: 'jkt',
      issuedAt: new Date(now - 7_200_000),
      exp: new Date(now - 3_600_000),
    },
  });
  return { agentSub, agentJti, authJtis, expiredJti };
}

describe('POST /revoke (§Token Revocation)', () => {
  it('accepts the issuer of the token: an Agent Provider revokes its agent token (200), which the PS then denies with 400 invalid_agent_token', async () => {
    const agent = newForeignAgent();
    const res = await revokeAs(otherAp, { iss: otherAp.issuer, jti: agent.claims.jti });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    // §Token Revocation: "The PS MUST deny subsequent requests presenting that agent token".
    const refused = await requestPersonToken(agent);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('invalid_agent_token');
    // Another agent token of the same AP is unaffected: the state is keyed by (iss, jti).
    const fine = await requestPersonToken(newForeignAgent());
    expect(fine.statusCode).toBe(202);
  });

  it('accepts a configured trusted party (REVOCATION_TRUSTED_ISSUERS) revoking a token it did not issue (200)', async () => {
    const agent = newForeignAgent();
    const res = await revokeAs(trustedAs, { iss: otherAp.issuer, jti: agent.claims.jti });
    expect(res.statusCode).toBe(200);
    expect((await requestPersonToken(agent)).json().error).toBe('invalid_agent_token');
  });

  it('refuses anyone else with 403 forbidden and no Signature-Error or Accept-Signature-* (§Verification)', async () => {
    const agent = newForeignAgent();
    const res = await revokeAs(stranger, { iss: otherAp.issuer, jti: agent.claims.jti });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('forbidden');
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.headers['accept-signature-scheme']).toBeUndefined();
    expect(res.headers['accept-signature-alg']).toBeUndefined();
    // Nothing was revoked.
    expect((await requestPersonToken(agent)).statusCode).toBe(202);
    // Also for this PS's own tokens, before any lookup: a stranger cannot probe which jti exist.
    const probe = await revokeAs(stranger, { iss: ISSUER, jti: 'does-not-exist' });
    expect(probe.statusCode).toBe(403);
  });

  it('answers 404 for a pair of this PS it has no record of', async () => {
    const res = await revokeAsOwnAp({ iss: ISSUER, jti: 'never-issued' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    const byTrusted = await revokeAs(trustedAs, { iss: ISSUER, jti: 'never-issued-either' });
    expect(byTrusted.statusCode).toBe(404);
  });

  it('answers 200 again for a token already revoked', async () => {
    const agent = newForeignAgent();
    expect((await revokeAs(otherAp, { iss: otherAp.issuer, jti: agent.claims.jti })).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await revokeAs(otherAp, { iss: otherAp.issuer, jti: agent.claims.jti })).statusCode).toBe(200);
    const { agentJti } = await seedOwnAgentWithAuthTokens([]);
    expect((await revokeAsOwnAp({ iss: ISSUER, jti: agentJti })).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await revokeAsOwnAp({ iss: ISSUER, jti: agentJti })).statusCode).toBe(200);
  });

  it.each([
    ['jti missing', { iss: 'https://agent.example' }],
    ['iss missing', { jti: 'abc' }],
    ['jti not a string', { iss: 'https://agent.example', jti: 42 }],
    ['iss empty', { iss: '', jti: 'abc' }],
    ['body an array', ['https://agent.example', 'abc']],
  ])('answers 400 invalid_request when a member is missing or malformed (%s)', async (_case, body) => {
    const res = await revokeAs(otherAp, body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('answers 401 invalid_input when the signature does not cover the body (§Covered Components)', async () => {
    const built = buildSignedRequest({
      method: 'POST',
      path: '/revoke',
      key: otherAp.signingKey,
      signatureKey: jwksUriMember(otherAp),
      clock: t.clock,
      issuer: ISSUER,
    });
    const body = Buffer.from(JSON.stringify({ iss: otherAp.issuer, jti: 'abc' }));
    const res = await injectBuilt(t.app, {
      ...built,
      headers: { ...built.headers, 'content-type': 'application/json' },
      body,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('invalid_input');
  });

  it('refuses a caller presenting a jwt instead of jwks_uri (401 unsupported_scheme)', async () => {
    const agent = newForeignAgent();
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/revoke',
      key: agent.key,
      signatureKey: agent.jwt,
      body: { iss: otherAp.issuer, jti: agent.claims.jti },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('unsupported_scheme');
  });
});

describe('revocation cascade (§Token Revocation: the PS "SHOULD revoke the auth tokens it issued … for that agent")', () => {
  it("revoking an agent token of this PS's own AP revokes its auth tokens and notifies each resource with a jwks_uri-signed {iss, jti}", async () => {
    const { agentJti, authJtis, expiredJti } = await seedOwnAgentWithAuthTokens([RESOURCE]);
    let release: () => void = () => undefined;
    gate = new Promise((resolve) => {
      release = resolve;
    });
    const res = await revokeAsOwnAp({ iss: ISSUER, jti: agentJti });
    // The answer does not wait for the resource.
    expect(res.statusCode).toBe(200);
    const row = await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti: authJtis[0]! } });
    expect(row.revokedAt).not.toBeNull();
    release();
    await t.app.revocations.settled();

    expect(sent).toHaveLength(1);
    const notice = sent[0]!;
    expect(notice.method).toBe('POST');
    expect(notice.url).toBe(`${RESOURCE}/revoke`);
    expect(JSON.parse(notice.body.toString('utf8'))).toEqual({ iss: ISSUER, jti: authJtis[0] });
    expect(notice.headers['content-type']).toBe('application/json');
    expect(notice.headers['signature-key']).toBe(
      `sig=jwks_uri;id="${ISSUER}";dwk="aauth-person.json";kid="${t.psKeys.active.kid}"`,
    );
    // Verified as the resource would: the PS's published keys, body covered, its extra components.
    const psKeys = createLocalKeyResolver([
      { issuer: ISSUER, dwk: DWK.person, keys: t.psKeys.published, metadata: { issuer: ISSUER } },
    ]);
    const verified = await verifyRequestSignature(
      { method: notice.method, url: notice.url, headers: notice.headers, body: notice.body },
      {
        schemes: ['jwks_uri'],
        jwksUriDwks: [DWK.person],
        requireBodyComponents: true,
        additionalComponents: ['@target-uri'],
      },
      {
        clock: t.clock,
        keys: psKeys,
        tokens: createTokenVerifier({ clock: t.clock, keys: psKeys, identifierPolicy: DEV }),
        identifierPolicy: DEV,
      },
    );
    expect(verified?.signer).toEqual({
      scheme: 'jwks_uri',
      id: ISSUER,
      dwk: DWK.person,
      kid: t.psKeys.active.kid,
    });
    expect(verified?.components).toEqual([
      '"@method"',
      '"@authority"',
      '"@path"',
      '"signature-key"',
      '"content-type"',
      '"content-digest"',
      '"@target-uri"',
    ]);
    // The expired auth token was neither touched nor announced.
    const expired = await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti: expiredJti } });
    expect(expired.revokedAt).toBeNull();
    expect(await t.prisma.revocation.count({ where: { iss: ISSUER, jti: authJtis[0]! } })).toBe(1);
  });

  it("revoking another AP's agent token that signed here revokes the auth tokens issued for that agent", async () => {
    const agent = newForeignAgent();
    // The agent signs a request here: the PS remembers which agent this (iss, jti) names.
    expect((await requestPersonToken(agent)).statusCode).toBe(202);
    const alice = await personId('alice');
    const jti = uniqueId('auth-jti');
    await t.prisma.issuedAuthToken.create({
      data: {
        jti,
        iss: ISSUER,
        aud: RESOURCE,
        sub: 'directed-sub',
        scope: 'read',
        personId: alice,
        agentIss: otherAp.issuer,
        agentSub: agent.claims.sub,
        cnfJkt: 'jkt',
        issuedAt: new Date(t.clock.now()),
        exp: new Date(t.clock.now() + 3_600_000),
      },
    });
    const res = await revokeAs(otherAp, { iss: otherAp.issuer, jti: agent.claims.jti });
    expect(res.statusCode).toBe(200);
    await t.app.revocations.settled();
    const row = await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } });
    expect(row.revokedAt).not.toBeNull();
    expect(sent.map((notice) => JSON.parse(notice.body.toString('utf8')))).toContainEqual({
      iss: ISSUER,
      jti,
    });
  });

  it('a resource that is down or has no revocation_endpoint never fails the revocation; the failure is recorded', async () => {
    const before = await t.prisma.securityEvent.count({ where: { event: 'revocation.cascade_failed' } });
    const { agentJti, authJtis } = await seedOwnAgentWithAuthTokens([DOWN, SILENT, RESOURCE]);
    const res = await revokeAsOwnAp({ iss: ISSUER, jti: agentJti });
    expect(res.statusCode).toBe(200);
    await t.app.revocations.settled();
    expect(sent.map((request) => request.url).sort()).toEqual([`${DOWN}/revoke`, `${RESOURCE}/revoke`]);
    const failures = await t.prisma.securityEvent.findMany({
      where: { event: 'revocation.cascade_failed' },
      orderBy: { createdAt: 'asc' },
    });
    expect(failures.length - before).toBe(2);
    const details = failures.slice(before).map((f) => f.detail as Record<string, unknown>);
    expect(details).toEqual(
      expect.arrayContaining([
        { resource: DOWN, iss: ISSUER, jti: authJtis[0], reason: 'network' },
        { resource: SILENT, iss: ISSUER, jti: authJtis[1], reason: 'no_revocation_endpoint' },
      ]),
    );
    const rows = await t.prisma.issuedAuthToken.findMany({ where: { jti: { in: authJtis } } });
    expect(rows.every((r) => r.revokedAt !== null)).toBe(true);
  });

  it('revoking an auth token this PS issued notifies its resource', async () => {
    const { authJtis } = await seedOwnAgentWithAuthTokens([RESOURCE]);
    const res = await revokeAsOwnAp({ iss: ISSUER, jti: authJtis[0]! });
    expect(res.statusCode).toBe(200);
    await t.app.revocations.settled();
    expect(sent.map((r) => JSON.parse(r.body.toString('utf8')))).toEqual([{ iss: ISSUER, jti: authJtis[0] }]);
  });
});

describe('outbound POST through egress admission (ARCHITECTURE.md *Outbound fetches*)', () => {
  it('delivers a signed notice to a loopback stub in development mode and reads its status', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/revoke`;
      const signer = createOutboundSigner({
        issuer: ISSUER,
        dwk: DWK.person,
        key: () => t.psKeys.active,
        clock: t.clock,
      });
      const { request } = signer.signJsonPost(url, { iss: ISSUER, jti: 'abc' });
      const post = createGuardedPost({ policy: createEgressPolicy({ devMode: true }) });
      expect(await post(request)).toEqual({ status: 200 });
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0]!.body)).toEqual({ iss: ISSUER, jti: 'abc' });
      expect(received[0]!.headers['content-digest']).toBe(request.headers['content-digest']);
      expect(received[0]!.headers['signature-input']).toContain('"content-digest"');

      // Strict mode never reaches a loopback address.
      const strict = createGuardedPost({ policy: createEgressPolicy({ devMode: false }) });
      await expect(strict(request)).rejects.toMatchObject({ name: 'DiscoveryError', reason: 'egress' });
      expect(received).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('REVOCATION_TRUSTED_ISSUERS', () => {
  it('takes comma-separated server identifiers and refuses anything else at start', () => {
    const base = { AAUTH_DEV: '1', LOG_LEVEL: 'silent', SEED_DEMO_PERSONS: '0' };
    expect(
      loadConfig({ ...base, REVOCATION_TRUSTED_ISSUERS: 'https://as.example, https://ps.example' })
        .REVOCATION_TRUSTED_ISSUERS,
    ).toEqual(['https://as.example', 'https://ps.example']);
    expect(loadConfig(base).REVOCATION_TRUSTED_ISSUERS).toEqual([]);
    expect(() => loadConfig({ ...base, REVOCATION_TRUSTED_ISSUERS: 'https://as.example/path' })).toThrow(
      /REVOCATION_TRUSTED_ISSUERS/,
    );
  });
});
