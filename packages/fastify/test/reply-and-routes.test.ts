import { DWK, exportPrivateJwk, STRICT } from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  aauthPlugin,
  registerHealthRoutes,
  registerJwksRoute,
  registerMetadataRoute,
  replyPending,
  replyRequirement,
} from '../src/index.js';
import { buildTestApp, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

async function bareApp(issuer = 'https://resource.example') {
  const clock = createFakeClock();
  const keys = { resolveKey: async () => Promise.reject(new Error('unused')), metadata: async () => ({}) };
  const app = Fastify();
  await app.register(aauthPlugin, {
    issuer,
    identifierPolicy: STRICT,
    clock,
    keys,
    tokens: { verify: async () => Promise.reject(new Error('unused')) },
    role: 'resource',
  });
  return app;
}

describe('replyPending (§Pending Response)', () => {
  it('sets Location (absolute, same origin), Retry-After and Cache-Control: no-store on a 202', async () => {
    t = await buildTestApp('person-server');
    const res = await t.app.inject({ method: 'POST', url: '/pending', payload: {} });
    expect(res.statusCode).toBe(202);
    expect(res.headers.location).toBe('https://ps.example/pending/abc');
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['aauth-requirement']).toBe('requirement=approval');
    expect(res.json()).toEqual({ status: 'pending' });
  });

  it('refuses a Location on another origin (§Pending Response: same origin)', async () => {
    const app = await bareApp();
    app.get('/p', async (_request, reply) =>
      replyPending(reply, {
        location: 'https://evil.example/pending/1',
        retryAfter: 0,
        body: { status: 'pending' },
      }),
    );
    const res = await app.inject({ method: 'GET', url: '/p' });
    expect(res.statusCode).toBe(500);
    expect(res.headers.location).toBeUndefined();
    await app.close();
  });
});

describe('replyRequirement (§Requirement Responses)', () => {
  it('sends AAuth-Requirement with 401 by default and 402 when asked', async () => {
    const app = await bareApp();
    app.get('/a', async (_request, reply) =>
      replyRequirement(reply, { requirement: 'auth-token', 'resource-token': 'eyJ.a.b' }),
    );
    app.get('/b', async (_request, reply) =>
      replyRequirement(reply, { requirement: 'auth-token', 'resource-token': 'eyJ.a.b' }, { status: 402 }),
    );
    const a = await app.inject({ method: 'GET', url: '/a' });
    expect(a.statusCode).toBe(401);
    expect(a.headers['aauth-requirement']).toBe('requirement=auth-token;resource-token="eyJ.a.b"');
    expect(a.headers['signature-error']).toBeUndefined();
    const b = await app.inject({ method: 'GET', url: '/b' });
    expect(b.statusCode).toBe(402);
    expect(b.headers['aauth-requirement']).toBe('requirement=auth-token;resource-token="eyJ.a.b"');
    await app.close();
  });
});

describe('well-known and health routes', () => {
  it('serves metadata at /.well-known/<dwk> from a document or a function', async () => {
    const app = await bareApp();
    const issuer = createTestIssuer({ dwk: DWK.resource, issuer: 'https://resource.example' });
    let calls = 0;
    registerMetadataRoute(app, DWK.resource, () => {
      calls += 1;
      return issuer.metadata;
    });
    registerMetadataRoute(app, DWK.agent, {
      issuer: 'https://resource.example',
      jwks_uri: 'https://resource.example/jwks.json',
    });
    const res = await app.inject({ method: 'GET', url: '/.well-known/aauth-resource.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(issuer.metadata);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(calls).toBe(1);
    expect((await app.inject({ method: 'GET', url: '/.well-known/aauth-agent.json' })).json()).toMatchObject({
      issuer: 'https://resource.example',
    });
    await app.close();
  });

  it('serves the JWKS with public members only', async () => {
    const app = await bareApp();
    const ed = makeKeyPair('Ed25519', 'k1');
    const ec = makeKeyPair('ES256', 'k2');
    registerJwksRoute(app, '/jwks.json', () => [ed, ec]);
    const res = await app.inject({ method: 'GET', url: '/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const body = res.json() as { keys: Record<string, unknown>[] };
    expect(body.keys).toHaveLength(2);
    expect(body.keys[0]).toEqual({ kty: 'OKP', crv: 'Ed25519', x: ed.jwk.x, alg: 'Ed25519', kid: 'k1' });
    expect(body.keys[1]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: 'k2' });
    expect(res.body).not.toContain(exportPrivateJwk(ed).d);
    expect(res.body).not.toContain('"d"');
    await app.close();
  });

  it('/healthz is 200; /readyz follows the readiness check', async () => {
    const app = await bareApp();
    let ready: boolean | Error = true;
    registerHealthRoutes(app, {
      ready: async () => {
        if (ready instanceof Error) throw ready;
        return ready;
      },
    });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ok = await app.inject({ method: 'GET', url: '/readyz' });
    expect([ok.statusCode, ok.json()]).toEqual([200, { status: 'ok' }]);
    ready = false;
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    expect([down.statusCode, down.json()]).toEqual([503, { status: 'unavailable' }]);
    ready = new Error('db down');
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    await app.close();
  });
});

describe('plugin configuration', () => {
  it('refuses an issuer that is not a bare origin', async () => {
    await expect(bareApp('https://resource.example/')).rejects.toThrow(/issuer must be an origin/);
  });

  it('refuses a stateChanging route without a replay cache at registration', async () => {
    const app = await bareApp();
    expect(() => app.post('/x', { config: { aauth: { stateChanging: true } } }, async () => ({}))).toThrow(
      /no replayCache/,
    );
    await app.close();
  });
});
