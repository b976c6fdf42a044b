import { parseAAuthRequirement } from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoUsers } from '../src/seed-users.js';
import type { PolicyDocument } from '../src/services/policy.js';
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

/** One rule per step (README, *Auth server*: policy additions). */
const STEPS_POLICY: PolicyDocument = {
  resources: {
    [RESOURCE]: {
      fallback: 'omit',
      rules: [
        { id: 'bind', scopes: ['bind'], require: ['interaction'], effect: 'grant' },
        { id: 'approve', scopes: ['approve'], require: ['approval'], effect: 'grant' },
        {
          id: 'ask',
          scopes: ['ask'],
          clarification: {
            question: 'Which project?',
            options: ['alpha', 'beta'],
            expect: 'alpha',
            timeout: 120,
          },
          effect: 'grant',
        },
        {
          id: 'review',
          scopes: ['review'],
          clarification: { question: 'Why do you need this?' },
          effect: 'grant',
        },
        { id: 'paid', scopes: ['paid'], require: ['payment'], effect: 'grant' },
        {
          id: 'full',
          scopes: ['full'],
          require: ['payment', 'interaction'],
          when: { claims: { email: { suffix: '@example.com' } } },
          effect: 'grant',
        },
        { id: 'read', scopes: ['read'], effect: 'grant' },
      ],
    },
  },
};

let t: TestApp;
let carol: TestBrowser;
let admin: TestBrowser;
const sent: { method: string; url: string; headers: Record<string, string>; body: Buffer }[] = [];

beforeAll(async () => {
  t = await startTestApp({
    policy: STEPS_POLICY,
    env: { PENDING_TTL_SECONDS: '600' },
    outboundFetch: async (request) => {
      sent.push({ ...request, headers: { ...request.headers } });
      return { status: 200 };
    },
  });
  await seedDemoUsers(createPrismaPersonStore(t.prisma));
  carol = createBrowser(t.app);
  await carol.signIn('carol', 'carol-demo-password');
  admin = createBrowser(t.app);
  await admin.signIn('admin', 'admin-demo-password');
});
afterAll(async () => {
  await t?.close();
});

async function start(scope: string, options: { sub?: string; ps?: typeof t.parties.ps } = {}) {
  const ps = options.ps ?? t.parties.ps;
  const tokens = makeRequestTokens(t, {
    scope,
    sub: options.sub ?? `sub-${scope}-${Math.random()}`,
    ps: ps.issuer,
  });
  const res = await sendAsPs(t, { method: 'POST', path: '/token', body: tokens.body, ps });
  const location = res.headers.location as string | undefined;
  return { tokens, res, path: location ? new URL(location).pathname : '', ps };
}

/** A poll after the advertised Retry-After. */
async function poll(path: string, ps = t.parties.ps) {
  t.clock.advance(5_000);
  return sendAsPs(t, { method: 'GET', path, ps });
}

const requirementOf = (res: { headers: Record<string, unknown> }) =>
  parseAAuthRequirement(res.headers['aauth-requirement'] as string | undefined, t.config.identifierPolicy);

describe('requirement=interaction (§PS-AS Trust Establishment "Interaction", §Interaction Code Format)', () => {
  it('202 with url and code; the person signs in, binds the PS; the poll gets 200; later requests skip it', async () => {
    const sub = 'sub-carol-1';
    const { res, path } = await start('bind', { sub });
    expect(res.statusCode).toBe(202);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
    const requirement = requirementOf(res);
    expect(requirement).toMatchObject({ requirement: 'interaction', url: `${AS_ISSUER}/interaction` });
    const code = (requirement as { code: string }).code;
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(res.json()).toEqual({ status: 'pending' });

    // Only the requesting PS may poll.
    expect((await poll(path, t.parties.otherPs)).statusCode).toBe(404);
    const again = await poll(path);
    expect(again.statusCode).toBe(202);
    expect(requirementOf(again)).toEqual(requirement);

    // Not signed in: sent to sign in first (the code is not consumed).
    const anonymous = await t.app.inject({ method: 'GET', url: `/interaction?code=${code}` });
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe(
      `/signin?return_to=${encodeURIComponent(`/interaction?code=${code}`)}`,
    );

    const page = await carol.get(`/interaction?code=${code.toLowerCase()}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Connect my Person Server');
    expect(page.body).toContain('https://ps.example');

    // Once opened: status interacting, the code is no longer offered, and it is spent (single use).
    const interacting = await poll(path);
    expect(interacting.statusCode).toBe(202);
    expect(interacting.json()).toEqual({ status: 'interacting' });
    expect(interacting.headers['aauth-requirement']).toBeUndefined();
    expect((await carol.get(`/interaction?code=${code}`)).statusCode).toBe(410);

    const id = path.split('/').pop()!;
    // CSRF: the form without its token is refused.
    expect(
      (await carol.post('/interaction', { request: id, decision: 'bind' }, { csrf: false })).statusCode,
    ).toBe(403);
    await carol.get('/'); // a fresh page for a fresh token
    const bound = await carol.post('/interaction', { request: id, decision: 'bind' });
    expect(bound.statusCode).toBe(200);
    expect(bound.body).toContain('Person Server connected');
    const row = await t.prisma.psBinding.findFirstOrThrow({ where: { ps: 'https://ps.example', sub } });
    expect(row.revokedAt).toBeNull();

    const done = await poll(path);
    expect(done.statusCode).toBe(200);
    expect(decodePayload(done.json().auth_token)).toMatchObject({ sub, scope: 'bind' });

    // After the binding the AS trusts that PS for that person: no step.
    const later = await start('bind', { sub });
    expect(later.res.statusCode).toBe(200);
  });

  it('the person declines: 403 denied', async () => {
    const { res, path } = await start('bind');
    const code = (requirementOf(res) as { code: string }).code;
    await carol.get(`/interaction?code=${code}`);
    const declined = await carol.post('/interaction', {
      request: path.split('/').pop()!,
      decision: 'decline',
    });
    expect(declined.statusCode).toBe(200);
    const polled = await poll(path);
    expect(polled.statusCode).toBe(403);
    expect(polled.json().error).toBe('denied');
  });

  it('a code presented after the pending request expired is refused with expired', async () => {
    const { res } = await start('bind');
    const code = (requirementOf(res) as { code: string }).code;
    t.clock.advance(601_000);
    const page = await carol.get(`/interaction?code=${code}`);
    expect(page.statusCode).toBe(408);
    expect(page.body).toContain('expired');
  });
});

describe('requirement=approval (administrator page)', () => {
  it('202 approval until an administrator approves; then 200', async () => {
    const { res, path } = await start('approve');
    expect(res.statusCode).toBe(202);
    expect(res.headers['aauth-requirement']).toBe('requirement=approval');
    expect(res.headers['retry-after']).toBe('5');
    expect((await poll(path, t.parties.otherPs)).statusCode).toBe(404);
    expect((await poll(path)).headers['aauth-requirement']).toBe('requirement=approval');

    expect((await carol.get('/admin/approvals')).statusCode).toBe(403);
    const list = await admin.get('/admin/approvals');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('Approve');
    const id = path.split('/').pop()!;
    expect(
      (await admin.post(`/admin/approvals/${id}`, { decision: 'approve' }, { csrf: false })).statusCode,
    ).toBe(403);
    await admin.get('/admin/approvals');
    expect((await admin.post(`/admin/approvals/${id}`, { decision: 'approve' })).statusCode).toBe(200);
    const done = await poll(path);
    expect(done.statusCode).toBe(200);
    expect(decodePayload(done.json().auth_token).scope).toBe('approve');
  });

  it('an administrator denies: 403 denied, then 410', async () => {
    const { path } = await start('approve');
    await admin.get('/admin/approvals');
    expect(
      (await admin.post(`/admin/approvals/${path.split('/').pop()}`, { decision: 'deny' })).statusCode,
    ).toBe(200);
    const polled = await poll(path);
    expect(polled.statusCode).toBe(403);
    expect(polled.json().error).toBe('denied');
    expect((await poll(path)).statusCode).toBe(410);
  });
});

describe('requirement=clarification (§Clarification Required, §Agent Response to Clarification)', () => {
  it('asks the question with options and timeout; an expected answer grants', async () => {
    const { res, path } = await start('ask');
    expect(res.statusCode).toBe(202);
    expect(res.headers['aauth-requirement']).toBe('requirement=clarification');
    expect(res.headers['retry-after']).toBe('0');
    expect(res.json()).toEqual({
      status: 'pending',
      clarification: 'Which project?',
      options: ['alpha', 'beta'],
      timeout: 120,
    });
    // Only the requesting PS may answer.
    const other = await sendAsPs(t, {
      method: 'POST',
      path,
      ps: t.parties.otherPs,
      body: { action: 'clarification_response', clarification_response: 'alpha' },
    });
    expect(other.statusCode).toBe(404);
    const answered = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { action: 'clarification_response', clarification_response: 'alpha' },
    });
    expect(answered.statusCode).toBe(202);
    const done = await sendAsPs(t, { method: 'GET', path });
    expect(done.statusCode).toBe(200);
    expect(decodePayload(done.json().auth_token).scope).toBe('ask');
  });

  it('a missing or unknown action is 400 invalid_request (a claims-shaped POST is not an answer)', async () => {
    const { tokens, path } = await start('ask');
    for (const body of [
      { sub: tokens.sub, clarification_response: 'alpha' },
      { action: 'something_else', clarification_response: 'alpha' },
      { action: 'updated_request', resource_token: 'x' },
      { action: 'clarification_response' },
    ]) {
      t.clock.advance(1000);
      const res = await sendAsPs(t, { method: 'POST', path, body });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('an unexpected answer: the rule does not apply (403 denied)', async () => {
    const { path } = await start('ask');
    await sendAsPs(t, {
      method: 'POST',
      path,
      body: { action: 'clarification_response', clarification_response: 'beta' },
    });
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(403);
    expect(polled.json().error).toBe('denied');
  });

  it('no answer before the timeout: 408 expired', async () => {
    const { path } = await start('ask');
    t.clock.advance(121_000);
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(408);
    expect(polled.json().error).toBe('expired');
  });

  it('without an expected value an administrator reviews the answer (approval follows)', async () => {
    const { path } = await start('review');
    const answered = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { action: 'clarification_response', clarification_response: 'To file the **report**.' },
    });
    expect(answered.statusCode).toBe(202);
    expect(answered.headers['aauth-requirement']).toBe('requirement=approval');
    const list = await admin.get('/admin/approvals');
    expect(list.body).toContain('Why do you need this?');
    expect(list.body).toContain('To file the **report**.');
    await admin.post(`/admin/approvals/${path.split('/').pop()}`, { decision: 'approve' });
    expect((await poll(path)).statusCode).toBe(200);
  });
});

describe('402 billing (§AS Response "Payment required")', () => {
  it('402 with Location until a signed-in person pays; then 200; the relationship is cached per PS', async () => {
    const ps = t.parties.otherPs;
    const { res, path } = await start('paid', { ps });
    expect(res.statusCode).toBe(402);
    expect(res.headers.location).toBe(`${AS_ISSUER}${path}`);
    expect(path).toMatch(/^\/token\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['aauth-requirement']).toBeUndefined();
    const payment = res.json().payment as { method: string; url: string };
    expect(payment.method).toBe('demo');
    expect(payment.url).toMatch(new RegExp(`^${AS_ISSUER}/billing/[A-Za-z0-9_-]{43}$`));
    expect(payment.url).not.toContain(path.split('/').pop());

    // Only the requesting PS may poll; unpaid, the poll answers 402 again.
    expect((await poll(path, t.parties.ps)).statusCode).toBe(404);
    expect((await poll(path, ps)).statusCode).toBe(402);

    const billingPath = new URL(payment.url).pathname;
    expect((await t.app.inject({ method: 'GET', url: billingPath })).statusCode).toBe(303);
    expect((await carol.get(billingPath)).body).toContain('Pay');
    expect((await carol.post(billingPath, {}, { csrf: false })).statusCode).toBe(403);
    await carol.get(billingPath);
    expect((await carol.post(billingPath, {})).statusCode).toBe(200);

    const done = await poll(path, ps);
    expect(done.statusCode).toBe(200);
    expect(decodePayload(done.json().auth_token).scope).toBe('paid');
    expect((await start('paid', { ps })).res.statusCode).toBe(200);
  });
});

describe('composed steps (§PS-AS Trust Establishment figure): 402 → interaction → claims → 200', () => {
  it('each step continues at the same pending URL', async () => {
    const sub = 'sub-carol-full';
    const { res, path, tokens } = await start('full', { sub });
    expect(res.statusCode).toBe(402);
    // Binding is required too: the 402 already carries the interaction requirement.
    const requirement = requirementOf(res) as { requirement: string; code: string };
    expect(requirement.requirement).toBe('interaction');
    const billingPath = new URL(res.json().payment.url).pathname;
    await carol.get(billingPath);
    await carol.post(billingPath, {});

    const second = await poll(path);
    expect(second.statusCode).toBe(202);
    expect(second.headers.location).toBe(`${AS_ISSUER}${path}`);
    expect(requirementOf(second)).toEqual(requirement);
    expect((await poll(path, t.parties.otherPs)).statusCode).toBe(404);

    await carol.get(`/interaction?code=${requirement.code}`);
    await carol.post('/interaction', { request: path.split('/').pop()!, decision: 'bind' });

    const third = await poll(path);
    expect(third.statusCode).toBe(202);
    expect(third.headers['aauth-requirement']).toBe('requirement=claims');
    expect(third.json()).toEqual({ status: 'pending', required_claims: ['email'] });
    const posted = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: tokens.sub, email: 'carol@example.com' },
    });
    expect(posted.statusCode).toBe(202);

    const done = await sendAsPs(t, { method: 'GET', path });
    expect(done.statusCode).toBe(200);
    expect(decodePayload(done.json().auth_token)).toMatchObject({ sub, scope: 'full' });
  });
});

describe('interaction code attempt limit', () => {
  it('after 5 failed codes every code is refused with invalid_code', async () => {
    const { res } = await start('bind');
    const code = (requirementOf(res) as { code: string }).code;
    for (let i = 0; i < 5; i++) expect((await admin.get('/interaction?code=0000-0000')).statusCode).toBe(410);
    const refused = await admin.get(`/interaction?code=${code}`);
    expect(refused.statusCode).toBe(410);
    expect(refused.body).toContain('invalid_code');
  });
});
