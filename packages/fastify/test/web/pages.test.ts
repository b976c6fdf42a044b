import { createLocalKeyResolver, createTokenVerifier, STRICT } from '@aauth-ref/core';
import { createFakeClock } from '@aauth-ref/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  aauthPlugin,
  allowFormAction,
  CSRF_FIELD,
  createMemorySessionStore,
  createPageSessions,
  formString,
  formStrings,
  hashSessionId,
  html,
  PAGE_CSS,
  type PageSessions,
  postForm,
  registerWebKit,
  renderPage,
  sendPage,
  submitButton,
  textField,
} from '../../src/index.js';

const ISSUER = 'https://ps.example';

interface Harness {
  readonly app: FastifyInstance;
  readonly sessions: PageSessions;
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(secureCookies: boolean): Promise<Harness> {
  const clock = createFakeClock(Date.now());
  const keys = createLocalKeyResolver([]);
  app = Fastify({ logger: false });
  await app.register(aauthPlugin, {
    issuer: ISSUER,
    identifierPolicy: STRICT,
    clock,
    keys,
    tokens: createTokenVerifier({ clock, keys, identifierPolicy: STRICT }),
    role: 'person-server',
  });
  registerWebKit(app, { formActions: ['https://as.example'] });
  const sessions = createPageSessions({
    store: createMemorySessionStore({ clock }),
    cookiePrefix: 'ps',
    issuer: ISSUER,
    secureCookies,
    clock,
    siteName: 'Person Server',
  });
  app.get('/sign-in', async (request, reply) => {
    const csrf = await sessions.csrfField(request, reply);
    return sendPage(
      reply,
      renderPage({
        title: 'Sign in',
        body: postForm({
          action: '/sign-in',
          csrf,
          body: html`${textField({ name: 'username', label: 'Email' })}${submitButton('Sign in')}`,
        }),
      }),
    );
  });
  app.post('/sign-in', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.signIn(request, reply, formString(request.body, 'username') ?? 'nobody');
    return reply.redirect('/dashboard', 303).header('x-session-person', session.personId);
  });
  app.get('/dashboard', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/sign-in', 303);
    const csrf = await sessions.csrfField(request, reply);
    return sendPage(
      reply,
      renderPage({
        title: `Hello ${session.personId}`,
        body: postForm({ action: '/consent', csrf, body: submitButton('Approve') }),
      }),
    );
  });
  app.post('/consent', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    allowFormAction(reply, 'https://agent.example/callback?x=1');
    return sendPage(
      reply,
      renderPage({ title: 'Done', body: html`<p>${formStrings(request.body, 'scope').join(' ')}</p>` }),
    );
  });
  app.post('/sign-out', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    await sessions.signOut(request, reply);
    return reply.redirect('/sign-in', 303);
  });
  app.post('/rotate', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const rotated = await sessions.rotate(request, reply);
    return { rotated: rotated !== undefined };
  });
  app.post('/json', async (request) => ({ body: request.body }));
  return { app, sessions };
}

function setCookies(response: { headers: Record<string, unknown> }): string[] {
  const value = response.headers['set-cookie'];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

function cookieValue(response: { headers: Record<string, unknown> }, name: string): string | undefined {
  const line = setCookies(response).find((c) => c.startsWith(`${name}=`));
  return line?.slice(name.length + 1).split(';')[0];
}

function tokenIn(body: string): string {
  return /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** GET the sign-in form and sign in as `person`; returns the cookies the browser now holds. */
async function signIn(harness: Harness, person = 'alice') {
  const page = await harness.app.inject({ method: 'GET', url: '/sign-in' });
  const csrf = cookieValue(page, 'ps_csrf')!;
  const response = await harness.app.inject({
    method: 'POST',
    url: '/sign-in',
    headers: { ...FORM, cookie: `ps_csrf=${csrf}`, origin: ISSUER },
    payload: `username=${person}&${CSRF_FIELD}=${tokenIn(page.body)}`,
  });
  return { response, csrf: cookieValue(response, 'ps_csrf')!, session: cookieValue(response, 'ps_session')! };
}

describe('pages: security headers', () => {
  it('sets CSP, nosniff, same-origin referrer policy, no-store and framing refusal on every HTML page', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self' https://as.example; base-uri 'none'",
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('same-origin');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).not.toMatch(/<script|style="/);
  });

  it('adds per-response form-action origins (redirect targets after a form post)', async () => {
    const h = await build(true);
    const { csrf, session } = await signIn(h);
    const dash = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_csrf=${csrf}; ps_session=${session}` },
    });
    const done = await h.app.inject({
      method: 'POST',
      url: '/consent',
      headers: { ...FORM, cookie: `ps_csrf=${csrf}; ps_session=${session}` },
      payload: `scope=read&scope=write&${CSRF_FIELD}=${tokenIn(dash.body)}`,
    });
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('<p>read write</p>');
    expect(done.headers['content-security-policy']).toContain(
      "form-action 'self' https://as.example https://agent.example;",
    );
  });

  it('serves the stylesheet as text/css with nosniff', async () => {
    const h = await build(true);
    const css = await h.app.inject({ method: 'GET', url: '/assets/aauth.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.headers['x-content-type-options']).toBe('nosniff');
    expect(css.body).toBe(PAGE_CSS);
  });

  it('form parsing coexists with the JSON raw-body parser', async () => {
    const h = await build(true);
    const json = await h.app.inject({ method: 'POST', url: '/json', payload: { a: 1 } });
    expect(json.json()).toEqual({ body: { a: 1 } });
  });
});

describe('pages: session cookies', () => {
  it('strict mode: HttpOnly, SameSite=Lax, Path=/, Secure', async () => {
    const h = await build(true);
    const { response } = await signIn(h);
    expect(response.statusCode).toBe(303);
    const session = setCookies(response).find((c) => c.startsWith('ps_session='))!;
    expect(session).toMatch(
      /^ps_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=28800$/,
    );
    const csrf = setCookies(response).find((c) => c.startsWith('ps_csrf='))!;
    expect(csrf).toMatch(
      /^ps_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=28800$/,
    );
  });

  it('dev mode: the same without Secure', async () => {
    const h = await build(false);
    const { response } = await signIn(h);
    const session = setCookies(response).find((c) => c.startsWith('ps_session='))!;
    expect(session).toMatch(/^ps_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=28800$/);
  });

  it('fixation: a session id present before sign-in is replaced and destroyed', async () => {
    const h = await build(true);
    const first = await signIn(h, 'mallory');
    // The victim's browser carries an id planted by an attacker (here, a real session of mallory's).
    const page = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_csrf=${first.csrf}; ps_session=${first.session}` },
    });
    expect(page.body).toContain('Hello mallory');
    const signInPage = await h.app.inject({
      method: 'GET',
      url: '/sign-in',
      headers: { cookie: `ps_csrf=${first.csrf}; ps_session=${first.session}` },
    });
    const response = await h.app.inject({
      method: 'POST',
      url: '/sign-in',
      headers: { ...FORM, cookie: `ps_csrf=${first.csrf}; ps_session=${first.session}` },
      payload: `username=alice&${CSRF_FIELD}=${tokenIn(signInPage.body)}`,
    });
    expect(response.statusCode).toBe(303);
    const fresh = cookieValue(response, 'ps_session')!;
    expect(fresh).not.toBe(first.session);
    expect(cookieValue(response, 'ps_csrf')).not.toBe(first.csrf);
    const old = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_session=${first.session}` },
    });
    expect(old.statusCode).toBe(303);
    expect(old.headers.location).toBe('/sign-in');
    const now = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_session=${fresh}` },
    });
    expect(now.body).toContain('Hello alice');
  });

  it('stores only the SHA-256 of the id and refuses lookups by the stored hash', async () => {
    const h = await build(true);
    const { session } = await signIn(h);
    const byHash = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_session=${hashSessionId(session)}` },
    });
    expect(byHash.statusCode).toBe(303);
  });

  it('rotate issues a new id for the same person; sign-out clears the cookie and the session', async () => {
    const h = await build(true);
    const { csrf, session } = await signIn(h);
    const cookie = `ps_csrf=${csrf}; ps_session=${session}`;
    const dash = await h.app.inject({ method: 'GET', url: '/dashboard', headers: { cookie } });
    const rotated = await h.app.inject({
      method: 'POST',
      url: '/rotate',
      headers: { ...FORM, cookie },
      payload: `${CSRF_FIELD}=${tokenIn(dash.body)}`,
    });
    expect(rotated.json()).toEqual({ rotated: true });
    const next = cookieValue(rotated, 'ps_session')!;
    expect(next).not.toBe(session);
    const dash2 = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_csrf=${csrf}; ps_session=${next}` },
    });
    expect(dash2.body).toContain('Hello alice');
    const out = await h.app.inject({
      method: 'POST',
      url: '/sign-out',
      headers: { ...FORM, cookie: `ps_csrf=${csrf}; ps_session=${next}` },
      payload: `${CSRF_FIELD}=${tokenIn(dash2.body)}`,
    });
    expect(out.statusCode).toBe(303);
    expect(setCookies(out).find((c) => c.startsWith('ps_session='))).toMatch(
      /^ps_session=; .*Max-Age=0; Expires=Thu, 01 Jan 1970/,
    );
    const after = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_session=${next}` },
    });
    expect(after.statusCode).toBe(303);
  });

  it("never reads another server's cookies", async () => {
    const h = await build(true);
    const { session } = await signIn(h);
    const other = await h.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `as_session=${session}` },
    });
    expect(other.statusCode).toBe(303);
  });
});

describe('pages: CSRF (403 HTML page)', () => {
  async function expectRefused(response: {
    statusCode: number;
    headers: Record<string, unknown>;
    body: string;
  }) {
    expect(response.statusCode).toBe(403);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("script-src 'none'");
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['signature-error']).toBeUndefined();
    expect(response.body).toContain('<h1>This form could not be accepted</h1>');
    expect(setCookies(response).some((c) => c.startsWith('ps_session='))).toBe(false);
  }

  it('refuses a POST without a token', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { ...FORM, cookie: `ps_csrf=${cookieValue(page, 'ps_csrf')}` },
        payload: 'username=a',
      }),
    );
  });

  it('refuses a POST without the CSRF cookie', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: FORM,
        payload: `username=a&${CSRF_FIELD}=${tokenIn(page.body)}`,
      }),
    );
  });

  it('refuses a wrong token, a token from another browser, and a repeated token field', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    const other = await h.app.inject({ method: 'GET', url: '/sign-in' });
    const cookie = `ps_csrf=${cookieValue(page, 'ps_csrf')}`;
    const token = tokenIn(page.body);
    const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const payload of [
      `username=a&${CSRF_FIELD}=${flipped}`,
      `username=a&${CSRF_FIELD}=${tokenIn(other.body)}`,
      `username=a&${CSRF_FIELD}=short`,
      `username=a&${CSRF_FIELD}=${token}&${CSRF_FIELD}=${token}`,
    ]) {
      await expectRefused(
        await h.app.inject({ method: 'POST', url: '/sign-in', headers: { ...FORM, cookie }, payload }),
      );
    }
  });

  it('binds the token to the session: a pre-sign-in token is refused once signed in', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    const anonymousToken = tokenIn(page.body);
    const { csrf, session } = await signIn(h);
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/consent',
        headers: { ...FORM, cookie: `ps_csrf=${csrf}; ps_session=${session}` },
        payload: `${CSRF_FIELD}=${anonymousToken}`,
      }),
    );
  });

  it('refuses a cross-origin or cross-site POST even with a valid token', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    const headers = { ...FORM, cookie: `ps_csrf=${cookieValue(page, 'ps_csrf')}` };
    const payload = `username=a&${CSRF_FIELD}=${tokenIn(page.body)}`;
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { ...headers, origin: 'https://evil.example' },
        payload,
      }),
    );
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { ...headers, origin: 'null' },
        payload,
      }),
    );
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { ...headers, 'sec-fetch-site': 'cross-site' },
        payload,
      }),
    );
    const ok = await h.app.inject({
      method: 'POST',
      url: '/sign-in',
      headers: { ...headers, origin: ISSUER, 'sec-fetch-site': 'same-origin' },
      payload,
    });
    expect(ok.statusCode).toBe(303);
  });

  it('refuses a JSON body to a form route (no form token in it)', async () => {
    const h = await build(true);
    const page = await h.app.inject({ method: 'GET', url: '/sign-in' });
    await expectRefused(
      await h.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { cookie: `ps_csrf=${cookieValue(page, 'ps_csrf')}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ username: 'a', [CSRF_FIELD]: [tokenIn(page.body)] }),
      }),
    );
  });
});
