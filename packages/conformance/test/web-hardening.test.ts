import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { generateSigningKeysJwks } from '@aauth-ref/fastify';
import {
  buildSignedRequest,
  createTestIssuer,
  injectBuilt,
  makeAgentId,
  makeKeyPair,
  type TestIssuer,
} from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoUsers as seedAsUsers } from '../../../apps/auth-server/src/seed-users.js';
import { createPrismaClient as createAsPrisma } from '../../../apps/auth-server/src/stores/prisma.js';
import { createPrismaPersonStore as createAsPersonStore } from '../../../apps/auth-server/src/stores/prisma-federation.js';
import { seedDemoUsers as seedRsUsers } from '../../../apps/resource-server/src/seed.js';
import { createPrismaClient as createRsPrisma } from '../../../apps/resource-server/src/stores/prisma.js';
import { createPrismaUserStore } from '../../../apps/resource-server/src/stores/prisma-users.js';
import { BrowserSession } from '../src/browser-session.js';
import {
  RS_ISSUER,
  type RunningServer,
  startAuthServer,
  startPersonServer,
  startResourceServer,
} from '../src/servers.js';

/**
 * Web hardening of every person-facing page of the three servers (issue #10, item 3): CSRF on every
 * state-changing form, cookie attributes (dev and strict mode), the HTML security headers, open
 * redirects through `return_to` and the resource's interaction `callback`, session fixation and the
 * login throttle. The kit that provides all
 * of it is `@aauth-ref/fastify` `web/`; these tests hold each server to it through `app.inject`.
 */

interface Target {
  readonly name: 'ps' | 'as' | 'rs';
  server: RunningServer;
  readonly username: string;
  readonly password: string;
  /** Where a sign-in goes without a (safe) `return_to`. */
  readonly defaultReturnTo: string;
  /** Pages a signed-in person can open (HTML). */
  readonly pages: readonly string[];
  /** Every state-changing form route (each has `preHandler: verifyCsrf`). */
  readonly forms: readonly string[];
}

const UUID = '00000000-0000-4000-8000-000000000000';

const targets: Target[] = [
  {
    name: 'ps',
    server: undefined as unknown as RunningServer,
    username: 'alice',
    password: 'alice-demo-password',
    defaultReturnTo: '/dashboard',
    pages: ['/signin', '/dashboard', '/interaction', '/missions', `/governance/${UUID}`, '/nope-404'],
    forms: [
      '/signin',
      '/signout',
      '/interaction',
      '/interaction/clarify',
      '/interaction/mission',
      '/missions/revoke',
      '/dashboard/agents/revoke',
      '/dashboard/consents/revoke',
      '/dashboard/tokens/revoke',
      '/governance/decide',
    ],
  },
  {
    name: 'as',
    server: undefined as unknown as RunningServer,
    username: 'admin',
    password: 'admin-demo-password',
    defaultReturnTo: '/',
    pages: ['/signin', '/', '/interaction', '/admin', '/admin/approvals', `/billing/${UUID}`],
    forms: [
      '/signin',
      '/signout',
      '/interaction',
      `/admin/tokens/${UUID}/revoke`,
      `/admin/bindings/${UUID}/revoke`,
      `/admin/approvals/${UUID}`,
      `/billing/${UUID}`,
    ],
  },
  {
    name: 'rs',
    server: undefined as unknown as RunningServer,
    username: 'carol',
    password: 'carol-demo-password',
    defaultReturnTo: '/interaction',
    pages: ['/signin', '/interaction', '/chain/interaction'],
    forms: ['/signin', '/signout', '/interaction'],
  },
];

let strict: RunningServer;
/** A resource whose agents' AP publishes a `callback_endpoint` (the shared parties' AP publishes none). */
let withCallback: RunningServer;
const CALLBACK_AP: TestIssuer = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});

beforeAll(async () => {
  const [ps, as, rs] = await Promise.all([startPersonServer(), startAuthServer(), startResourceServer()]);
  targets[0]!.server = ps;
  targets[1]!.server = as;
  targets[2]!.server = rs;
  // The conformance AS and resource start without accounts (the demo ones are seeded by main.ts).
  const asPrisma = createAsPrisma(as.database);
  await seedAsUsers(createAsPersonStore(asPrisma));
  const rsPrisma = createRsPrisma(rs.database);
  await seedRsUsers(createPrismaUserStore(rsPrisma));
  await Promise.all([asPrisma.$disconnect(), rsPrisma.$disconnect()]);
  strict = await startResourceServer({ env: STRICT_RS_ENV });
  withCallback = await startResourceServer({ remoteKeys: createLocalKeyResolver([CALLBACK_AP]) });
  const callbackPrisma = createRsPrisma(withCallback.database);
  await seedRsUsers(createPrismaUserStore(callbackPrisma));
  await callbackPrisma.$disconnect();
});

afterAll(async () => {
  await Promise.all([...targets.map((t) => t.server?.close()), strict?.close(), withCallback?.close()]);
});

const STRICT_RS_ENV: Record<string, string> = {
  AAUTH_DEV: '0',
  ISSUER: 'https://resource.test',
  SIGNING_KEYS: JSON.stringify(generateSigningKeysJwks()),
};

function setCookies(response: LightMyRequestResponse): string[] {
  const set = response.headers['set-cookie'];
  return Array.isArray(set) ? set : set ? [set] : [];
}

function isHtml(response: LightMyRequestResponse): boolean {
  return /^text\/html\b/i.test(String(response.headers['content-type'] ?? ''));
}

function expectPageSecurityHeaders(response: LightMyRequestResponse, where: string): void {
  const csp = String(response.headers['content-security-policy'] ?? '');
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map((parts) => [parts[0]!, parts.slice(1)]),
  );
  expect(csp, `${where}: no 'unsafe-inline' / 'unsafe-eval' anywhere`).not.toMatch(/unsafe-(inline|eval)/);
  // No script at all: script-src 'none' (or, failing that, default-src covering scripts strictly).
  expect(directives.get('script-src'), `${where}: script-src`).toEqual(["'none'"]);
  expect(directives.get('frame-ancestors'), `${where}: frame-ancestors`).toEqual(["'none'"]);
  expect(directives.get('object-src'), `${where}: object-src`).toEqual(["'none'"]);
  expect(directives.get('base-uri'), `${where}: base-uri`).toEqual(["'none'"]);
  expect(response.headers['x-content-type-options'], where).toBe('nosniff');
  expect(response.headers['referrer-policy'], where).toMatch(/^(same-origin|no-referrer|strict-origin)/);
  expect(response.headers['x-frame-options'], where).toBe('DENY');
}

/** A redirect target a browser resolves to this server: a path, never `//`, `\\` or a scheme. */
function expectSameSite(target: string | undefined, server: Target): void {
  expect(target).toMatch(/^\/(?![/\\])/);
  expect(target).not.toMatch(/[\\\s]/);
  const origin = new URL(server.server.issuer).origin;
  expect(new URL(target!, origin).origin).toBe(origin);
}

describe.each(targets)('web hardening: $name', (target) => {
  const app = (): FastifyInstance => target.server.app;
  const browser = () => new BrowserSession(app, target.server.issuer);

  it('every HTML page (signed out and signed in, 404 included) carries CSP, nosniff, Referrer-Policy, X-Frame-Options', async () => {
    const anonymous = browser();
    const signedIn = browser();
    await signedIn.signIn(target.username, target.password);
    let htmlPages = 0;
    for (const session of [anonymous, signedIn]) {
      for (const path of target.pages) {
        const response = await session.get(path);
        expect(response.statusCode, `${path}: no 5xx`).toBeLessThan(500);
        if (!isHtml(response)) continue;
        htmlPages += 1;
        expectPageSecurityHeaders(response, `${target.name} ${path} (${response.statusCode})`);
        expect(response.headers['cache-control'], path).toMatch(/no-store|private/);
      }
    }
    expect(htmlPages).toBeGreaterThanOrEqual(target.pages.length);
  });

  it('every state-changing form refuses a missing, a wrong and a cross-origin CSRF token with 403; nothing changes', async () => {
    const session = browser();
    await session.signIn(target.username, target.password);
    await session.get('/signin');
    const good = session.csrf();
    const before = await target.server.countRows();
    for (const path of target.forms) {
      const attempts: { label: string; fields: Record<string, string>; origin?: string }[] = [
        { label: 'missing', fields: { username: target.username, password: target.password } },
        { label: 'wrong', fields: { _csrf: `${good.slice(0, -2)}AA`, username: target.username } },
        { label: 'empty', fields: { _csrf: '' } },
        { label: 'cross-origin', fields: { _csrf: good }, origin: 'https://evil.example' },
      ];
      for (const attempt of attempts) {
        const response = await app().inject({
          method: 'POST',
          url: path,
          headers: {
            host: new URL(target.server.issuer).host,
            origin: attempt.origin ?? target.server.issuer,
            cookie: [...session.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: new URLSearchParams(attempt.fields).toString(),
        });
        expect(response.statusCode, `${path} (${attempt.label} CSRF)`).toBe(403);
        expect(isHtml(response), `${path}: a person sees a page`).toBe(true);
        expect(response.headers.location, path).toBeUndefined();
      }
    }
    expect(await target.server.countRows()).toEqual(before);
    // The session survived every refusal: the token still works for the page it came from.
    expect((await session.get(target.pages[1]!)).statusCode).toBe(200);
  });

  it('a CSRF token from another browser (another CSRF cookie) is refused', async () => {
    const mallory = browser();
    await mallory.get('/signin');
    const stolen = mallory.csrf();
    const victim = browser();
    await victim.get('/signin');
    const response = await victim.post('/signin', {
      _csrf: stolen,
      username: target.username,
      password: target.password,
    });
    expect(response.statusCode).toBe(403);
    expect(victim.cookies.has(`${target.name}_session`)).toBe(false);
  });

  it('cookies are HttpOnly, SameSite=Lax, Path=/, host-only; not Secure over dev-mode http', async () => {
    const session = browser();
    const page = await session.get('/signin');
    const signIn = await session.post('/signin', {
      _csrf: session.csrf(),
      username: target.username,
      password: target.password,
    });
    expect(signIn.statusCode).toBe(303);
    const cookies = [...setCookies(page), ...setCookies(signIn)];
    const names = cookies.map((c) => c.split('=')[0]);
    expect(names).toContain(`${target.name}_session`);
    expect(names).toContain(`${target.name}_csrf`);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/;\s*HttpOnly(;|$)/);
      expect(cookie).toMatch(/;\s*SameSite=Lax(;|$)/);
      expect(cookie).toMatch(/;\s*Path=\/(;|$)/);
      expect(cookie).not.toMatch(/Domain=/i);
      expect(cookie).not.toMatch(/;\s*Secure/);
    }
  });

  it.each([
    '//evil.example',
    'https://evil.example',
    'http://evil.example/dashboard',
    '/\\evil.example',
    '\\\\evil.example',
    '/%5Cevil.example',
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    ' javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'https:evil.example',
    '/\t/evil.example',
    '///evil.example',
    'https://localhost@evil.example',
  ])('no open redirect through return_to=%j (GET form and POST /signin)', async (evil) => {
    const session = browser();
    const form = await session.get(`/signin?return_to=${encodeURIComponent(evil)}`);
    const hidden = /name="return_to" value="([^"]*)"/.exec(form.body)?.[1];
    expectSameSite(hidden, target);
    const response = await session.post('/signin', {
      _csrf: session.csrf(),
      username: target.username,
      password: target.password,
      return_to: evil,
    });
    expect(response.statusCode).toBe(303);
    expectSameSite(String(response.headers.location), target);
    // Only the percent-encoded backslash is a (harmless) same-site path; every other vector falls back.
    if (!evil.startsWith('/%5C')) expect(response.headers.location).toBe(target.defaultReturnTo);
  });

  it('a same-site return_to path is kept', async () => {
    const session = browser();
    await session.get('/signin');
    const response = await session.post('/signin', {
      _csrf: session.csrf(),
      username: target.username,
      password: target.password,
      return_to: `${target.defaultReturnTo}?x=1`,
    });
    expect(response.headers.location).toBe(`${target.defaultReturnTo}?x=1`);
  });

  it('session fixation: a planted session id is replaced at sign-in and the old id is dead', async () => {
    const first = browser();
    await first.signIn(target.username, target.password);
    const planted = first.cookies.get(`${target.name}_session`)!;
    expect(planted).toBeTruthy();
    // The attacker's (valid) id is planted in the victim's browser, who then signs in.
    const victim = browser();
    victim.cookies.set(`${target.name}_session`, planted);
    await victim.get('/signin');
    const response = await victim.post('/signin', {
      _csrf: victim.csrf(),
      username: target.username,
      password: target.password,
    });
    expect(response.statusCode).toBe(303);
    const fresh = victim.cookies.get(`${target.name}_session`)!;
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(planted);
    // The planted id no longer signs anyone in.
    const attacker = browser();
    attacker.cookies.set(`${target.name}_session`, planted);
    await attacker.get('/signin');
    const signOut = await attacker.post('/signout', { _csrf: attacker.csrf() });
    expect(signOut.statusCode).toBe(303);
    const asAttacker = await attacker.get(target.pages[1]!);
    expect(asAttacker.body).not.toContain('Sign out');
  });

  it('login throttle: 5 failures for a username → 429 with Retry-After, even with the right password', async () => {
    const session = browser();
    const user = target.username;
    for (let i = 0; i < 5; i++) {
      await session.get('/signin');
      const failed = await session.post('/signin', {
        _csrf: session.csrf(),
        username: user,
        password: 'wrong',
      });
      expect(failed.statusCode).toBe(401);
    }
    await session.get('/signin');
    const blocked = await session.post('/signin', {
      _csrf: session.csrf(),
      username: user,
      password: target.password,
    });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(session.cookies.has(`${target.name}_session`)).toBe(false);
    // The window slides with the server's clock: after it, the right password works again.
    target.server.clock.advance(16 * 60 * 1000);
    await session.get('/signin');
    const again = await session.post('/signin', {
      _csrf: session.csrf(),
      username: user,
      password: target.password,
    });
    expect(again.statusCode).toBe(303);
  });
});

describe('web hardening: strict mode (https issuer)', () => {
  it('every cookie is Secure, HttpOnly, SameSite=Lax', async () => {
    const response = await strict.app.inject({
      method: 'GET',
      url: '/signin',
      headers: { host: 'resource.test' },
    });
    expect(response.statusCode).toBe(200);
    expectPageSecurityHeaders(response, 'strict /signin');
    const cookies = setCookies(response);
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/;\s*Secure(;|$)/);
      expect(cookie).toMatch(/;\s*HttpOnly(;|$)/);
      expect(cookie).toMatch(/;\s*SameSite=Lax(;|$)/);
    }
  });
});

/**
 * §User Interaction: the callback "is constructed from the agent's `callback_endpoint` metadata". The
 * resource's `/interaction?code=…&callback=…` redirects only to that endpoint (origin and path; the
 * agent's query kept): every other value is refused with a 400 page and no `Location`, for a live code
 * and an expired one alike (docs/spec-decisions.md, *Interaction callbacks bound to the agent's
 * `callback_endpoint`*).
 */
describe('web hardening: no open redirect through the resource interaction callback', () => {
  /** A fresh resource-managed interaction code for an agent of `ap` (§Resource-Managed Authorization). */
  async function interactionCode(server: RunningServer, ap: TestIssuer): Promise<string> {
    const key = makeKeyPair();
    const agentToken = ap.issue('agent', { sub: makeAgentId(ap), cnf: { jwk: key.jwk } } as never, {
      clock: server.clock,
    });
    const response = await injectBuilt(
      server.app,
      buildSignedRequest({
        method: 'GET',
        path: '/api/journal',
        key,
        signatureKey: agentToken,
        headers: { 'aauth-capabilities': 'interaction' },
        clock: server.clock,
        issuer: RS_ISSUER,
      }),
    );
    expect(response.statusCode).toBe(202);
    const code = /code="([^"]+)"/.exec(String(response.headers['aauth-requirement']))?.[1];
    expect(code).toBeTruthy();
    return code!;
  }

  const open = (session: BrowserSession, code: string, callback: string) =>
    session.get(`/interaction?${new URLSearchParams({ code, callback })}`);

  it.each([
    '//evil.example/callback',
    'https://evil.example/callback',
    'https://agent.example.evil.example/callback',
    'https://agent.example/elsewhere',
    'https://agent.example/callback/../elsewhere',
    'http://agent.example/callback',
    'http://localhost:8080/callback',
    '/\\evil.example/callback',
    '\\\\evil.example/callback',
    '/callback',
    'javascript:alert(1)',
    ' https://agent.example/callback',
    'data:text/html,<script>alert(1)</script>',
    'https:agent.example/callback',
    'https://agent.example@evil.example/callback',
    'https://agent.example/callback\t',
  ])('callback=%j is refused (400, no Location), the code stays usable', async (evil) => {
    const session = new BrowserSession(() => withCallback.app, withCallback.issuer);
    await session.signIn('carol', 'carol-demo-password');
    const code = await interactionCode(withCallback, CALLBACK_AP);
    const refused = await open(session, code, evil);
    expect(refused.statusCode).toBe(400);
    expect(refused.headers.location).toBeUndefined();
    expect(isHtml(refused)).toBe(true);
    expectPageSecurityHeaders(refused, `callback ${evil}`);
    const accepted = await open(session, code, 'https://agent.example/callback?state=1');
    expect(accepted.statusCode).toBe(200);
  });

  it('an expired code redirects with interaction_expired only to the callback_endpoint', async () => {
    const session = new BrowserSession(() => withCallback.app, withCallback.issuer);
    await session.signIn('carol', 'carol-demo-password');
    const code = await interactionCode(withCallback, CALLBACK_AP);
    withCallback.clock.advance(601_000);
    const refused = await open(session, code, 'https://evil.example/callback');
    expect(refused.statusCode).toBe(400);
    expect(refused.headers.location).toBeUndefined();
    const expired = await open(session, code, 'https://agent.example/callback');
    expect(expired.statusCode).toBe(303);
    expect(expired.headers.location).toBe('https://agent.example/callback?error=interaction_expired');
  });

  it('an AP without callback_endpoint gets no redirect at all', async () => {
    const rs = targets[2]!.server;
    const session = new BrowserSession(() => rs.app, rs.issuer);
    await session.signIn('carol', 'carol-demo-password');
    const code = await interactionCode(rs, rs.parties.ap);
    const refused = await open(session, code, 'https://agent.example/callback');
    expect(refused.statusCode).toBe(400);
    expect(refused.headers.location).toBeUndefined();
  });
});
