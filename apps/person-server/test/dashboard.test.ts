import { randomUUID } from 'node:crypto';
import {
  createLocalKeyResolver,
  DEV,
  DWK,
  type OutboundRequest,
  parseAAuthRequirement,
} from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  Browser,
  ISSUER,
  sendSigned,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

const otherAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const RESOURCE = 'https://resource.example';
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: RESOURCE,
  metadata: { revocation_endpoint: `${RESOURCE}/revoke` },
});

let t: TestApp;
const sent: OutboundRequest[] = [];

beforeAll(async () => {
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([otherAp, resource]),
    outboundFetch: async (request) => {
      sent.push(request);
      return { status: 200 };
    },
  });
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  sent.length = 0;
});

type Agent = ReturnType<typeof makeAgentToken>;

function newAgent(): Agent {
  return makeAgentToken({ issuer: otherAp, clock: t.clock, ps: ISSUER });
}

function requestPersonToken(agent: Agent, target = RESOURCE) {
  return sendSigned(t, {
    method: 'POST',
    path: '/person',
    key: agent.key,
    signatureKey: agent.jwt,
    body: { resource: target, capabilities: ['interaction'] },
  });
}

function codeOf(res: LightMyRequestResponse): string {
  return (parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV) as { code: string }).code;
}

async function signedIn(person: typeof ALICE): Promise<Browser> {
  const browser = new Browser(t);
  await browser.signIn(person.username, person.password);
  return browser;
}

async function decide(person: typeof ALICE, code: string) {
  const browser = await signedIn(person);
  const page = await browser.get(`/interaction?code=${code}`);
  if (page.statusCode !== 200) return page;
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  return browser.post('/interaction', { _csrf: browser.csrf(), request: id, decision: 'approve' });
}

/** An agent bound to `person` with a person token at RESOURCE, through the real flow. */
async function connectAgent(person: typeof ALICE): Promise<Agent> {
  const agent = newAgent();
  const res = await requestPersonToken(agent);
  expect(res.statusCode).toBe(202);
  expect((await decide(person, codeOf(res))).statusCode).toBe(200);
  t.clock.advance(2000);
  const poll = await sendSigned(t, {
    method: 'GET',
    path: new URL(String(res.headers.location)).pathname,
    key: agent.key,
    signatureKey: agent.jwt,
  });
  expect(poll.statusCode).toBe(200);
  return agent;
}

async function personId(username: string): Promise<string> {
  return (await t.prisma.person.findUniqueOrThrow({ where: { username } })).id;
}

/** An auth token record and a scope consent, as the auth token service writes them. */
async function seedAuthToken(owner: string, agent: { iss: string; sub: string }) {
  const jti = `auth-${randomUUID()}`;
  const now = t.clock.now();
  await t.prisma.issuedAuthToken.create({
    data: {
      jti,
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'directed',
      scope: 'calendar.read',
      personId: owner,
      agentIss: agent.iss,
      agentSub: agent.sub,
      cnfJkt: 'jkt',
      issuedAt: new Date(now),
      exp: new Date(now + 3_600_000),
    },
  });
  const consentId = randomUUID();
  await t.prisma.scopeConsent.create({
    data: {
      id: consentId,
      personId: owner,
      agentIss: agent.iss,
      agentSub: agent.sub,
      resource: RESOURCE,
      scope: 'calendar.read',
    },
  });
  return { jti, consentId };
}

function noticeBodies() {
  return sent.map((request) => JSON.parse(request.body.toString('utf8')) as Record<string, unknown>);
}

describe('/dashboard', () => {
  it('sends a visitor without a session to sign in', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/dashboard', headers: { host: 'localhost:3001' } });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/signin?return_to=%2Fdashboard');
  });

  it('lists connected agents, consents and live tokens of the signed-in person only', async () => {
    const agent = await connectAgent(ALICE);
    const alice = await personId('alice');
    const { jti } = await seedAuthToken(alice, { iss: otherAp.issuer, sub: agent.claims.sub });
    const browser = await signedIn(ALICE);
    const page = await browser.get('/dashboard');
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toContain(agent.claims.sub);
    expect(page.body).toContain('Agents allowed to act as you at a resource');
    expect(page.body).toContain('calendar.read');
    expect(page.body).toContain('Person token');
    expect(page.body).toContain(`name="jti" value="${jti}"`);
    // Every form carries the CSRF field.
    const forms = page.body.match(/<form method="post"/g) ?? [];
    const csrfFields = page.body.match(/name="_csrf"/g) ?? [];
    expect(forms.length).toBeGreaterThan(3);
    expect(csrfFields.length).toBe(forms.length);
    const bob = await signedIn(BOB);
    const bobsPage = await bob.get('/dashboard');
    expect(bobsPage.body).not.toContain(agent.claims.sub);
    expect(bobsPage.body).not.toContain(jti);
  });

  it('refuses a revocation without a valid CSRF token (403) and leaves the entry alone', async () => {
    const agent = await connectAgent(ALICE);
    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const missing = await browser.post('/dashboard/agents/revoke', {
      agent_iss: otherAp.issuer,
      agent_sub: agent.claims.sub,
    });
    expect(missing.statusCode).toBe(403);
    const forged = await browser.post('/dashboard/agents/revoke', {
      _csrf: 'A'.repeat(43),
      agent_iss: otherAp.issuer,
      agent_sub: agent.claims.sub,
    });
    expect(forged.statusCode).toBe(403);
    const binding = await t.prisma.agentBinding.findFirstOrThrow({ where: { agentSub: agent.claims.sub } });
    expect(binding.revokedAt).toBeNull();
  });

  it("answers 404 to another person's binding, consent or token and changes nothing", async () => {
    const agent = await connectAgent(ALICE);
    const alice = await personId('alice');
    const { jti, consentId } = await seedAuthToken(alice, { iss: otherAp.issuer, sub: agent.claims.sub });
    const bob = await signedIn(BOB);
    await bob.get('/dashboard');
    const attempts = [
      ['/dashboard/agents/revoke', { agent_iss: otherAp.issuer, agent_sub: agent.claims.sub }],
      ['/dashboard/consents/revoke', { kind: 'scope', id: consentId }],
      [
        '/dashboard/consents/revoke',
        { kind: 'resource', agent_iss: otherAp.issuer, agent_sub: agent.claims.sub, resource: RESOURCE },
      ],
      ['/dashboard/tokens/revoke', { kind: 'auth', jti }],
    ] as const;
    for (const [path, fields] of attempts) {
      const res = await bob.post(path, { _csrf: bob.csrf(), ...fields });
      expect(res.statusCode, path).toBe(404);
    }
    const person = await t.prisma.personTokenRecord.findFirstOrThrow({
      where: { agentSub: agent.claims.sub },
    });
    const personRes = await bob.post('/dashboard/tokens/revoke', {
      _csrf: bob.csrf(),
      kind: 'person',
      jti: person.jti,
    });
    expect(personRes.statusCode).toBe(404);
    expect((await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } })).revokedAt).toBeNull();
    expect(
      (await t.prisma.scopeConsent.findUniqueOrThrow({ where: { id: consentId } })).revokedAt,
    ).toBeNull();
    expect(await t.prisma.revocation.count({ where: { jti: person.jti } })).toBe(0);
    expect(sent).toHaveLength(0);
  });

  it('revokes an auth token and tells its resource (§Token Revocation: PS revokes an auth token it issued)', async () => {
    const agent = await connectAgent(ALICE);
    const { jti } = await seedAuthToken(await personId('alice'), {
      iss: otherAp.issuer,
      sub: agent.claims.sub,
    });
    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const res = await browser.post('/dashboard/tokens/revoke', { _csrf: browser.csrf(), kind: 'auth', jti });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    await t.app.revocations.settled();
    expect((await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } })).revokedAt).not.toBeNull();
    expect(noticeBodies()).toEqual([{ iss: ISSUER, jti }]);
    expect(sent[0]!.url).toBe(`${RESOURCE}/revoke`);
    const page = await browser.get('/dashboard');
    expect(page.body).not.toContain(`value="${jti}"`);
    // Revoked already: nothing left to revoke.
    const again = await browser.post('/dashboard/tokens/revoke', {
      _csrf: browser.csrf(),
      kind: 'auth',
      jti,
    });
    expect(again.statusCode).toBe(404);
  });

  it('revokes a person token: recorded by (iss, jti) and announced to the resource', async () => {
    const agent = await connectAgent(ALICE);
    const record = await t.prisma.personTokenRecord.findFirstOrThrow({
      where: { agentSub: agent.claims.sub },
    });
    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const res = await browser.post('/dashboard/tokens/revoke', {
      _csrf: browser.csrf(),
      kind: 'person',
      jti: record.jti,
    });
    expect(res.statusCode).toBe(303);
    await t.app.revocations.settled();
    expect(await t.prisma.revocation.count({ where: { iss: ISSUER, jti: record.jti } })).toBe(1);
    expect(noticeBodies()).toEqual([{ iss: ISSUER, jti: record.jti }]);
  });

  it('revokes a resource consent: the next person token request asks the person again', async () => {
    const agent = await connectAgent(ALICE);
    t.clock.advance(1000);
    expect((await requestPersonToken(agent)).statusCode).toBe(200);
    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const res = await browser.post('/dashboard/consents/revoke', {
      _csrf: browser.csrf(),
      kind: 'resource',
      agent_iss: otherAp.issuer,
      agent_sub: agent.claims.sub,
      resource: RESOURCE,
    });
    expect(res.statusCode).toBe(303);
    t.clock.advance(1000);
    const again = await requestPersonToken(agent);
    expect(again.statusCode).toBe(202);
    expect(String(again.headers['aauth-requirement'])).toContain('requirement=interaction');
  });

  it('revokes a scope consent', async () => {
    const agent = await connectAgent(ALICE);
    const { consentId } = await seedAuthToken(await personId('alice'), {
      iss: otherAp.issuer,
      sub: agent.claims.sub,
    });
    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const res = await browser.post('/dashboard/consents/revoke', {
      _csrf: browser.csrf(),
      kind: 'scope',
      id: consentId,
    });
    expect(res.statusCode).toBe(303);
    expect(
      (await t.prisma.scopeConsent.findUniqueOrThrow({ where: { id: consentId } })).revokedAt,
    ).not.toBeNull();
    await browser.get('/dashboard');
    const malformed = await browser.post('/dashboard/consents/revoke', {
      _csrf: browser.csrf(),
      kind: 'scope',
      id: 'x',
    });
    expect(malformed.statusCode).toBe(404);
  });

  it('disconnecting an agent revokes its binding, its tokens (with the cascade) and consents; a second person can then bind it (§Agent-Person Binding)', async () => {
    const agent = await connectAgent(ALICE);
    const { jti } = await seedAuthToken(await personId('alice'), {
      iss: otherAp.issuer,
      sub: agent.claims.sub,
    });
    const personJti = (
      await t.prisma.personTokenRecord.findFirstOrThrow({ where: { agentSub: agent.claims.sub } })
    ).jti;
    // Bound to alice: bob cannot claim it.
    t.clock.advance(1000);
    const blocked = await requestPersonToken(agent, 'https://other.example');
    expect((await decide(BOB, codeOf(blocked))).statusCode).toBe(403);

    const browser = await signedIn(ALICE);
    await browser.get('/dashboard');
    const res = await browser.post('/dashboard/agents/revoke', {
      _csrf: browser.csrf(),
      agent_iss: otherAp.issuer,
      agent_sub: agent.claims.sub,
    });
    expect(res.statusCode).toBe(303);
    await t.app.revocations.settled();
    expect(noticeBodies()).toEqual(
      expect.arrayContaining([
        { iss: ISSUER, jti },
        { iss: ISSUER, jti: personJti },
      ]),
    );
    expect(sent).toHaveLength(2);
    const consents = await t.prisma.resourceConsent.findMany({ where: { agentSub: agent.claims.sub } });
    expect(consents.every((c) => c.revokedAt !== null)).toBe(true);
    const page = await browser.get('/dashboard');
    expect(page.body).not.toContain(agent.claims.sub);

    // A new approval binds the agent again — here to bob.
    t.clock.advance(1000);
    const fresh = await requestPersonToken(agent);
    expect(fresh.statusCode).toBe(202);
    expect((await decide(BOB, codeOf(fresh))).statusCode).toBe(200);
    const active = await t.prisma.agentBinding.findMany({
      where: { agentSub: agent.claims.sub, revokedAt: null },
    });
    expect(active.map((b) => b.personId)).toEqual([await personId('bob')]);
  });

  it("disconnecting an agent of this PS's own Agent Provider also revokes its enrollment and agent tokens", async () => {
    const alice = await personId('alice');
    const agentSub = `aauth:${randomUUID().replaceAll('-', '').slice(0, 26)}@localhost`;
    const now = t.clock.now();
    await t.prisma.enrollment.create({
      data: {
        id: randomUUID(),
        durableJkt: `jkt-${randomUUID()}`,
        durableJwk: {},
        agentSub,
        ps: ISSUER,
        status: 'approved',
        personId: alice,
        name: 'Laptop agent',
      },
    });
    await t.prisma.agentBinding.create({
      data: { id: randomUUID(), agentIss: ISSUER, agentSub, personId: alice, agentName: 'Laptop agent' },
    });
    const agentJti = `agent-${randomUUID()}`;
    await t.prisma.issuedAgentToken.create({
      data: {
        jti: agentJti,
        sub: agentSub,
        cnfJkt: 'jkt',
        issuedAt: new Date(now),
        expiresAt: new Date(now + 3_600_000),
      },
    });
    const { jti } = await seedAuthToken(alice, { iss: ISSUER, sub: agentSub });
    const browser = await signedIn(ALICE);
    const page = await browser.get('/dashboard');
    expect(page.body).toContain('Laptop agent');
    const res = await browser.post('/dashboard/agents/revoke', {
      _csrf: browser.csrf(),
      agent_iss: ISSUER,
      agent_sub: agentSub,
    });
    expect(res.statusCode).toBe(303);
    await t.app.revocations.settled();
    expect((await t.prisma.enrollment.findUniqueOrThrow({ where: { agentSub } })).status).toBe('revoked');
    expect(await t.prisma.revocation.count({ where: { iss: ISSUER, jti: agentJti } })).toBe(1);
    expect(noticeBodies()).toEqual([{ iss: ISSUER, jti }]);
  });
});
