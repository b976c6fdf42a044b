import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, Browser, startTestApp, type TestApp } from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('sign-in (§PS Approval Endpoint Authentication)', () => {
  it('shows labelled Username and Password fields and a Sign in button with CSRF', async () => {
    const browser = new Browser(t);
    const res = await browser.get('/signin');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<label for="field-username">Username</label>');
    expect(res.body).toContain('<label for="field-password">Password</label>');
    expect(res.body).toContain('<button type="submit">Sign in</button>');
    expect(browser.csrf()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a wrong password with 401 and no session', async () => {
    const browser = new Browser(t);
    const res = await browser.signIn('alice', 'wrong');
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('The username or password is not correct.');
    expect(browser.cookies.has('ps_session')).toBe(false);
  });

  it('refuses a form without its CSRF token', async () => {
    const browser = new Browser(t);
    await browser.get('/signin');
    const res = await browser.post('/signin', { username: ALICE.username, password: ALICE.password });
    expect(res.statusCode).toBe(403);
  });

  it('signs in, shows the dashboard, and signs out', async () => {
    const browser = new Browser(t);
    const res = await browser.signIn(ALICE.username, ALICE.password);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    const dashboard = await browser.get('/dashboard');
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.body).toContain('Alice Example');
    const out = await browser.post('/signout', { _csrf: browser.csrf() });
    expect(out.statusCode).toBe(303);
    expect((await browser.get('/dashboard')).statusCode).toBe(303);
  });

  it('issues a fresh session id at sign-in (session fixation)', async () => {
    const browser = new Browser(t);
    await browser.signIn(ALICE.username, ALICE.password);
    const first = browser.cookies.get('ps_session');
    await browser.get('/signin');
    await browser.post('/signin', {
      _csrf: browser.csrf(),
      username: ALICE.username,
      password: ALICE.password,
    });
    const second = browser.cookies.get('ps_session');
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    // The earlier id no longer works.
    const stale = await t.app.inject({
      method: 'GET',
      url: '/dashboard',
      headers: { cookie: `ps_session=${first}` },
    });
    expect(stale.statusCode).toBe(303);
  });

  it('throttles repeated failures for a username with 429', async () => {
    const browser = new Browser(t);
    for (let i = 0; i < 5; i++) expect((await browser.signIn('bob', `wrong-${i}`)).statusCode).toBe(401);
    const res = await browser.signIn('bob', 'bob-demo-password');
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    t.clock.advance(16 * 60 * 1000);
    expect((await browser.signIn('bob', 'bob-demo-password')).statusCode).toBe(303);
  });
});
