import {
  createLocalKeyResolver,
  createTokenVerifier,
  DWK,
  type OutboundRequest,
  verifyRequestSignature,
} from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAccessServerMetadata } from '../src/metadata.js';
import { seedDemoUsers } from '../src/seed-users.js';
import { createPrismaPersonStore } from '../src/stores/prisma-federation.js';
import {
  AS_ISSUER,
  decodePayload,
  makeRequestTokens,
  RESOURCE,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { createBrowser, type TestBrowser } from './support/browser.js';

let t: TestApp;
let admin: TestBrowser;
const sent: OutboundRequest[] = [];

beforeAll(async () => {
  t = await startTestApp({
    policy: {
      resources: {
        [RESOURCE]: {
          rules: [
            { scopes: ['read'], effect: 'grant' },
            { scopes: ['bind'], require: ['interaction'], effect: 'grant' },
          ],
        },
      },
    },
    outboundFetch: async (request) => {
      sent.push(request);
      return { status: 200 };
    },
  });
  await seedDemoUsers(createPrismaPersonStore(t.prisma));
  admin = createBrowser(t.app);
  await admin.signIn('admin', 'admin-demo-password');
});
afterAll(async () => {
  await t?.close();
});

describe('administrator page: issued tokens and PS bindings, revoke', () => {
  it('only administrators: anonymous → sign in, a person → 403', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/admin' })).statusCode).toBe(303);
    const carol = createBrowser(t.app);
    await carol.signIn('carol', 'carol-demo-password');
    expect((await carol.get('/admin')).statusCode).toBe(403);
  });

  it('revoking an issued token records it and calls the resource revocation_endpoint signed as the AS (jwks_uri, aauth-access.json)', async () => {
    const res = await sendAsPs(t, {
      method: 'POST',
      path: '/token',
      body: makeRequestTokens(t, { scope: 'read' }).body,
    });
    expect(res.statusCode).toBe(200);
    const jti = decodePayload(res.json().auth_token).jti as string;
    const page = await admin.get('/admin');
    expect(page.body).toContain(jti);
    expect(page.body).toContain('Revoke token');

    const path = `/admin/tokens/${encodeURIComponent(jti)}/revoke`;
    expect((await admin.post(path, {}, { csrf: false })).statusCode).toBe(403);
    expect(sent).toHaveLength(0);
    await admin.get('/admin');
    const revoked = await admin.post(path, {});
    expect(revoked.statusCode).toBe(200);
    expect(revoked.body).toContain('its resource was told');

    const row = await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } });
    expect(row.revokedAt).not.toBeNull();
    expect(
      await t.prisma.revocation.findUnique({ where: { iss_jti: { iss: AS_ISSUER, jti } } }),
    ).not.toBeNull();

    expect(sent).toHaveLength(1);
    const notice = sent[0]!;
    expect(notice.method).toBe('POST');
    expect(notice.url).toBe(`${RESOURCE}/revoke`);
    expect(JSON.parse(notice.body.toString('utf8'))).toEqual({ iss: AS_ISSUER, jti });
    expect(notice.headers['signature-key']).toBe(
      `sig=jwks_uri;id="${AS_ISSUER}";dwk="aauth-access.json";kid="${t.keys.active.kid}"`,
    );
    // Verified as the resource would: the AS's published keys, the body covered.
    const asKeys = createLocalKeyResolver([
      {
        issuer: AS_ISSUER,
        dwk: DWK.access,
        keys: t.keys.published,
        metadata: buildAccessServerMetadata(AS_ISSUER),
      },
    ]);
    const verified = await verifyRequestSignature(
      { method: notice.method, url: notice.url, headers: notice.headers, body: notice.body },
      { schemes: ['jwks_uri'], jwksUriDwks: [DWK.access], requireBodyComponents: true },
      {
        clock: t.clock,
        keys: asKeys,
        tokens: createTokenVerifier({
          clock: t.clock,
          keys: asKeys,
          identifierPolicy: t.config.identifierPolicy,
        }),
        identifierPolicy: t.config.identifierPolicy,
      },
    );
    expect(verified?.signer).toEqual({
      scheme: 'jwks_uri',
      id: AS_ISSUER,
      dwk: DWK.access,
      kid: t.keys.active.kid,
    });
  });

  it('revoking a PS binding: the next request asks for interaction again', async () => {
    const sub = 'sub-bound';
    const person = await t.prisma.asPerson.findUniqueOrThrow({ where: { username: 'carol' } });
    await t.prisma.psBinding.create({
      data: {
        id: '00000000-0000-4000-8000-000000000001',
        ps: 'https://ps.example',
        sub,
        personId: person.id,
      },
    });
    const first = await sendAsPs(t, {
      method: 'POST',
      path: '/token',
      body: makeRequestTokens(t, { scope: 'bind', sub }).body,
    });
    expect(first.statusCode).toBe(200);
    const page = await admin.get('/admin');
    expect(page.body).toContain('Revoke binding');
    const path = '/admin/bindings/00000000-0000-4000-8000-000000000001/revoke';
    expect((await admin.post(path, {}, { csrf: false })).statusCode).toBe(403);
    await admin.get('/admin');
    expect((await admin.post(path, {})).statusCode).toBe(200);
    const again = await sendAsPs(t, {
      method: 'POST',
      path: '/token',
      body: makeRequestTokens(t, { scope: 'bind', sub }).body,
    });
    expect(again.statusCode).toBe(202);
    expect(again.headers['aauth-requirement']).toContain('requirement=interaction');
  });

  it('sign-in and sign-out forms require the CSRF token', async () => {
    const browser = createBrowser(t.app);
    await browser.get('/signin');
    const res = await browser.post(
      '/signin',
      { username: 'carol', password: 'carol-demo-password' },
      { csrf: false },
    );
    expect(res.statusCode).toBe(403);
    expect((await admin.post('/signout', {}, { csrf: false })).statusCode).toBe(403);
  });
});
