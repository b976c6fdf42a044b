import { createLocalKeyResolver, DWK, formatAuthorizationAAuth, type KeyPair } from '@aauth-ref/core';
import { injectBuilt } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import {
  buildRequest,
  newAgent,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { interactionOf, pathOf, signedInBrowser, type TestBrowser } from './support/browser-flow.js';

/**
 * Session-token revocation (docs/spec-decisions.md, *Resource server: session-token revocation*): the
 * person revokes a connected agent on `/sessions`; this resource itself revokes a grant through its
 * `revocation_endpoint` as (its issuer, grant id). A revoked grant's tokens get the answer every
 * invalid session token gets (401 `Signature-Error: invalid_request`), rolling cannot bring it back,
 * and the revocation survives a restart and reaches another instance.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ SESSION_TOKEN_ROLL_SECONDS: '600', SESSION_TOKEN_GRACE_SECONDS: '30' });
});
afterAll(async () => {
  await t?.close();
});

async function sessionFor(agent: TestAgent, browser: TestBrowser): Promise<string> {
  const started = await send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: { 'aauth-capabilities': 'interaction' },
  });
  expect(started.statusCode).toBe(202);
  const { code } = interactionOf(started);
  const page = await browser.get(`/interaction?code=${encodeURIComponent(code)}`);
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  await browser.post('/interaction', { _csrf: browser.csrf(page), request: id, decision: 'approve' });
  t.clock.advance(3_000);
  const delivered = await send(t, {
    path: pathOf(started.headers.location),
    key: agent.key,
    signatureKey: agent.agentToken,
  });
  expect(delivered.statusCode).toBe(200);
  return String(delivered.headers['aauth-access']);
}

function journal(agent: TestAgent, token: string, app = t.app) {
  return injectBuilt(
    app,
    buildRequest(t, {
      path: '/api/journal',
      key: agent.key,
      signatureKey: agent.agentToken,
      headers: { authorization: formatAuthorizationAAuth(token) },
    }),
  );
}

function grantsOn(page: { body: string }): string[] {
  return [...page.body.matchAll(/name="grant" value="([^"]+)"/g)].map((m) => m[1]!);
}

/** This resource signing as itself (`jwks_uri` under its `aauth-resource` document), body covered. */
function revokeAs(key: KeyPair, id: string, dwk: string, body: Record<string, unknown>) {
  return send(t, {
    method: 'POST',
    path: '/revoke',
    key,
    signatureKey: { scheme: 'jwks_uri', id, dwk, kid: key.kid },
    body,
    additionalComponents: ['content-type', 'content-digest'],
  });
}

function expectRefused(response: { statusCode: number; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(401);
  expect(response.headers['signature-error']).toBe('error=invalid_request');
  expect(response.headers['aauth-access']).toBeUndefined();
}

describe('the person revokes a connected agent on /sessions', () => {
  it('lists the grant, and Revoke ends it: the next request is refused and rolling cannot resurrect it', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, browser);
    expect((await journal(agent, token)).statusCode).toBe(200);

    const page = await browser.get('/sessions');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Connected agents');
    expect(page.body).toContain(agent.key.thumbprint);
    const [grant] = grantsOn(page);
    expect(grant).toBeDefined();

    // Past the roll interval, so the next use would have rolled the token.
    t.clock.advance(601_000);
    const revoked = await browser.post('/sessions/revoke', { _csrf: browser.csrf(page), grant: grant! });
    expect(revoked.statusCode).toBe(303);
    expect(revoked.headers.location).toBe('/sessions');

    expectRefused(await journal(agent, token));
    expect(grantsOn(await browser.get('/sessions'))).toEqual([]);
  });

  it('a token rolled before the revocation is refused too (the whole grant ends)', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const first = await sessionFor(agent, browser);
    t.clock.advance(601_000);
    const rolled = await journal(agent, first);
    expect(rolled.statusCode).toBe(200);
    const second = String(rolled.headers['aauth-access']);
    expect(second).not.toBe(first);
    const page = await browser.get('/sessions');
    const [grant] = grantsOn(page);
    expect(
      (await browser.post('/sessions/revoke', { _csrf: browser.csrf(page), grant: grant! })).statusCode,
    ).toBe(303);
    expectRefused(await journal(agent, second));
    // The previous value, still inside its grace period, is refused as well.
    expectRefused(await journal(agent, first));
  });

  it('another person cannot revoke someone else’s session: 404, and the session keeps working', async () => {
    const owner = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, owner);
    const page = await owner.get('/sessions');
    const grant = grantsOn(page)[0]!;

    const other = await signedInBrowser(t, 'frank');
    const otherPage = await other.get('/sessions');
    expect(grantsOn(otherPage)).toEqual([]);
    const attempt = await other.post('/sessions/revoke', { _csrf: other.csrf(otherPage), grant });
    expect(attempt.statusCode).toBe(404);
    expect((await journal(agent, token)).statusCode).toBe(200);
    // An unknown or malformed id is the same 404.
    const unknown = await other.post('/sessions/revoke', {
      _csrf: other.csrf(otherPage),
      grant: '00000000-0000-4000-8000-000000000000',
    });
    expect(unknown.statusCode).toBe(404);
    expect(
      (await other.post('/sessions/revoke', { _csrf: other.csrf(otherPage), grant: 'x' })).statusCode,
    ).toBe(404);
  });

  it('Revoke without the CSRF token is refused and revokes nothing', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, browser);
    const grant = grantsOn(await browser.get('/sessions'))[0]!;
    const forged = await browser.post('/sessions/revoke', { grant });
    expect(forged.statusCode).toBe(403);
    expect((await journal(agent, token)).statusCode).toBe(200);
  });

  it('signed out, /sessions sends the person to sign in', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/sessions',
      headers: { host: 'localhost:3003' },
    });
    expect(response.statusCode).toBe(303);
    expect(String(response.headers.location)).toMatch(/^\/signin\?return_to=%2Fsessions/);
  });

  it('the revocation survives a restart and reaches another instance on its next poll', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, browser);

    let tick: (() => Promise<void>) | undefined;
    const other = await buildApp(t.config, {
      database: t.database,
      prisma: t.prisma,
      clock: t.clock,
      keys: t.keys,
      remoteKeys: createLocalKeyResolver([t.ps, t.ps2, t.ap, t.as]),
      logger: false,
      keepDatabaseOpen: true,
      revocationRefresh: {
        schedule(run) {
          tick = run;
          return () => {
            tick = undefined;
          };
        },
      },
    });
    try {
      expect((await journal(agent, token, other)).statusCode).toBe(200);
      const page = await browser.get('/sessions');
      const grant = grantsOn(page)[0]!;
      expect((await browser.post('/sessions/revoke', { _csrf: browser.csrf(page), grant })).statusCode).toBe(
        303,
      );
      await tick!();
      expectRefused(await journal(agent, token, other));
    } finally {
      await other.close();
    }
    await t.restart();
    expectRefused(await journal(agent, token));
  });
});

describe('revocation_endpoint for session grants — §Token Revocation', () => {
  it('this resource, signing as its issuer, revokes a grant by (iss, grant id): 200, then refused', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, browser);
    const grant = grantsOn(await browser.get('/sessions'))[0]!;
    const response = await revokeAs(t.keys.active, t.config.ISSUER, DWK.resource, {
      iss: t.config.ISSUER,
      jti: grant,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({});
    expectRefused(await journal(agent, token));
    // Already revoked is still 200.
    t.clock.advance(1_000);
    expect(
      (await revokeAs(t.keys.active, t.config.ISSUER, DWK.resource, { iss: t.config.ISSUER, jti: grant }))
        .statusCode,
    ).toBe(200);
  });

  it('§Token Revocation: an unknown grant id under this issuer is 404', async () => {
    const response = await revokeAs(t.keys.active, t.config.ISSUER, DWK.resource, {
      iss: t.config.ISSUER,
      jti: '00000000-0000-4000-8000-000000000000',
    });
    expect(response.statusCode).toBe(404);
  });

  it('§Token Revocation: a PS may not revoke a session grant (only its issuer): 403, session keeps working', async () => {
    const browser = await signedInBrowser(t, 'erin');
    const agent = newAgent(t);
    const token = await sessionFor(agent, browser);
    const grant = grantsOn(await browser.get('/sessions'))[0]!;
    const response = await revokeAs(t.ps.signingKey, t.ps.issuer, DWK.person, {
      iss: t.config.ISSUER,
      jti: grant,
    });
    expect(response.statusCode).toBe(403);
    expect(response.headers['signature-error']).toBeUndefined();
    expect((await journal(agent, token)).statusCode).toBe(200);
  });
});
