import { createLocalKeyResolver, DEV, DWK, parseAAuthRequirement } from '@aauth-ref/core';
import { createTestIssuer, makeResourceToken } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  AS_ISSUER,
  type AsBrowser,
  accessServerIssuer,
  createAccessServerKeys,
  fetchThrough,
  type RealAccessServer,
  startAccessServer,
} from './support/federation-access-server.js';
import {
  type BoundAgent,
  bindAgentWithPersonToken,
  decodeClaims,
  requestAuthToken,
} from './support/token-flow.js';

/**
 * §AS Response, §Deferred Responses, §Auth Token Delivery against the real auth server built
 * in-process: the PS relays the AS's deferred steps (interaction, approval, clarification, 402) to
 * the agent at its own pending URL, answers claims itself, and delivers the verified auth token.
 */

const RESOURCE = 'https://resource.example';

const otherAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });

const POLICY = {
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
        { id: 'paid', scopes: ['paid'], require: ['payment'], effect: 'grant' },
        {
          id: 'full',
          scopes: ['full'],
          require: ['payment', 'interaction'],
          when: { claims: { email: { suffix: '@example.com' } } },
          effect: 'grant',
        },
        {
          id: 'read',
          scopes: ['read'],
          when: { claims: { email: { suffix: '@example.com' } } },
          effect: 'grant',
        },
      ],
    },
  },
};

let t: TestApp;
let as: RealAccessServer;
let carol: AsBrowser;
let admin: AsBrowser;

beforeAll(async () => {
  const asKeys = createAccessServerKeys();
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([otherAp, resource, await accessServerIssuer(asKeys)]),
    federationFetch: fetchThrough(() => as.app),
  });
  as = await startAccessServer({
    keys: asKeys,
    clock: t.clock,
    peers: [
      otherAp,
      resource,
      { issuer: ISSUER, dwk: DWK.person, keys: t.psKeys.published, metadata: { issuer: ISSUER } },
    ],
    policy: POLICY,
  });
  carol = await as.browser('carol', 'carol-demo-password');
  admin = await as.browser('admin', 'admin-demo-password');
});
afterAll(async () => {
  await t?.close();
  await as?.close();
});
beforeEach(async () => {
  // Each test starts with no trust between this PS and the AS.
  await as.resetTrust();
  await t.prisma.asBilling.deleteMany({});
});

async function requestAt(scope: string, bound?: BoundAgent) {
  const agent = bound ?? (await bindAgentWithPersonToken(t, otherAp, RESOURCE));
  const rt = makeResourceToken({
    issuer: resource,
    clock: t.clock,
    aud: AS_ISSUER,
    ps: ISSUER,
    sub: agent.personToken.sub,
    presented_jti: agent.personToken.jti,
    agentKey: agent.agent.key,
    scope,
  });
  const res = await requestAuthToken(t, agent.agent, { resource_token: rt.jwt });
  const location = res.headers.location as string | undefined;
  return { bound: agent, res, path: location ? new URL(location).pathname : '' };
}

/** A poll of the PS's pending URL once the advertised Retry-After has passed. */
function pollAfter(bound: BoundAgent, path: string, res: LightMyRequestResponse, agent = bound.agent) {
  t.clock.advance(Number(res.headers['retry-after'] ?? 5) * 1000);
  return sendSigned(t, { method: 'GET', path, key: agent.key, signatureKey: agent.jwt });
}

function postTo(bound: BoundAgent, path: string, body: Record<string, unknown>) {
  // A second apart: an identical signed request within the same second would be a replay.
  t.clock.advance(1000);
  return sendSigned(t, { method: 'POST', path, key: bound.agent.key, signatureKey: bound.agent.jwt, body });
}

const requirementOf = (res: LightMyRequestResponse) =>
  parseAAuthRequirement(res.headers['aauth-requirement'] as string | undefined, DEV);

/** The AS's pending id behind the PS's pending URL. */
async function asPendingId(path: string): Promise<string> {
  const row = await t.prisma.federatedRequest.findUniqueOrThrow({ where: { id: path.split('/').pop()! } });
  expect(new URL(row.asPendingUrl).origin).toBe(AS_ISSUER);
  return row.asPendingUrl.split('/').pop()!;
}

/** The person at the AS opens the code and binds this PS (§PS-AS Trust Establishment "Interaction"). */
async function bindAtAs(url: string, code: string): Promise<void> {
  const page = await carol.get(`${new URL(url).pathname}?code=${code}`);
  expect(page.statusCode).toBe(200);
  const id = /name="request" value="([^"]+)"/.exec(page.body)?.[1];
  expect(id).toBeDefined();
  const bound = await carol.post('/interaction', { request: id!, decision: 'bind' });
  expect(bound.statusCode).toBe(200);
}

/** The person opens the relayed billing page (`{url}?code={code}`) and pays (the AS's demo step). */
async function payAtAs(url: string, code: string): Promise<void> {
  const path = new URL(url).pathname;
  const page = await carol.get(`${path}?code=${code}`);
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('Pay');
  const paid = await carol.post(path, {});
  expect(paid.statusCode).toBe(200);
}

async function expectDelivered(res: LightMyRequestResponse, bound: BoundAgent, scope: string) {
  expect(res.statusCode).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  const body = res.json() as { auth_token: string; expires_in: number };
  expect(body.expires_in).toBeGreaterThan(0);
  const claims = decodeClaims(body.auth_token);
  expect(claims).toMatchObject({ iss: AS_ISSUER, aud: RESOURCE, sub: bound.personToken.sub, scope });
  const record = await t.prisma.issuedAuthToken.findUnique({ where: { jti: claims.jti as string } });
  expect(record).toMatchObject({ iss: AS_ISSUER, aud: RESOURCE, scope, agentSub: bound.agent.claims.sub });
  return claims;
}

describe('synchronous fast path (§AS Response "Direct grant", §Claims Required)', () => {
  it('claims-only: the PS answers requirement=claims itself and the agent gets 200 in the same request', async () => {
    const before = await t.prisma.federatedRequest.count();
    const { res, bound } = await requestAt('read');
    await expectDelivered(res, bound, 'read');
    expect(res.headers.location).toBeUndefined();
    // Nothing deferred: no pending URL at the PS.
    expect(await t.prisma.federatedRequest.count()).toBe(before);
  });
});

describe('requirement=interaction relayed (§Interaction Required, §PS-AS Trust Establishment)', () => {
  it("202 at the PS's own pending URL with the AS url and code; after the binding the next poll is 200", async () => {
    const { res, bound, path } = await requestAt('bind');
    expect(res.statusCode).toBe(202);
    // §Pending URL Security: same origin as the PS.
    expect(new URL(res.headers.location as string).origin).toBe(ISSUER);
    expect(path).toMatch(/^\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
    const requirement = requirementOf(res) as { requirement: string; url: string; code: string };
    expect(requirement).toMatchObject({ requirement: 'interaction', url: `${AS_ISSUER}/interaction` });
    expect(res.json()).toEqual({ status: 'pending' });

    // §Pending URL Security: only the requesting agent may poll; another one gets what an unknown URL gets.
    const other = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    expect((await pollAfter(bound, path, res, other.agent)).statusCode).toBe(404);

    const again = await pollAfter(bound, path, res);
    expect(again.statusCode).toBe(202);
    expect(requirementOf(again)).toEqual(requirement);

    await bindAtAs(requirement.url, requirement.code);
    const done = await pollAfter(bound, path, again);
    await expectDelivered(done, bound, 'bind');
    // §Pending URL Security: "Once a terminal response is returned, the pending URL MUST return 410".
    expect((await pollAfter(bound, path, again)).statusCode).toBe(410);
  });

  it('status interacting while the person is at the AS page (code spent, no requirement)', async () => {
    const { res, bound, path } = await requestAt('bind');
    const { url, code } = requirementOf(res) as { url: string; code: string };
    const page = await carol.get(`${new URL(url).pathname}?code=${code}`);
    expect(page.statusCode).toBe(200);
    const interacting = await pollAfter(bound, path, res);
    expect(interacting.statusCode).toBe(202);
    expect(interacting.json()).toEqual({ status: 'interacting' });
    expect(interacting.headers['aauth-requirement']).toBeUndefined();
  });
});

describe('requirement=approval relayed (§Approval Pending)', () => {
  it('202 requirement=approval until the administrator approves at the AS; then 200', async () => {
    const { res, bound, path } = await requestAt('approve');
    expect(res.statusCode).toBe(202);
    expect(res.headers['aauth-requirement']).toBe('requirement=approval');
    const waiting = await pollAfter(bound, path, res);
    expect(waiting.headers['aauth-requirement']).toBe('requirement=approval');
    const id = await asPendingId(path);
    await admin.get('/admin/approvals');
    expect((await admin.post(`/admin/approvals/${id}`, { decision: 'approve' })).statusCode).toBe(200);
    await expectDelivered(await pollAfter(bound, path, waiting), bound, 'approve');
  });

  it('the AS denies: 403 denied (§Polling Error Codes), then 410', async () => {
    const { res, bound, path } = await requestAt('approve');
    const id = await asPendingId(path);
    await admin.get('/admin/approvals');
    expect((await admin.post(`/admin/approvals/${id}`, { decision: 'deny' })).statusCode).toBe(200);
    const denied = await pollAfter(bound, path, res);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toBe('denied');
    expect((await pollAfter(bound, path, res)).statusCode).toBe(410);
  });

  it('survives a restart of the PS between the steps (§Deferred Responses, state in the database)', async () => {
    const { res, bound, path } = await requestAt('approve');
    await t.restart();
    const id = await asPendingId(path);
    await admin.get('/admin/approvals');
    expect((await admin.post(`/admin/approvals/${id}`, { decision: 'approve' })).statusCode).toBe(200);
    await expectDelivered(await pollAfter(bound, path, res), bound, 'approve');
  });

  it('DELETE of the PS pending URL cancels the AS request too (§Cancel Request)', async () => {
    const { res, bound, path } = await requestAt('approve');
    const id = await asPendingId(path);
    t.clock.advance(100);
    const cancelled = await sendSigned(t, {
      method: 'DELETE',
      path,
      key: bound.agent.key,
      signatureKey: bound.agent.jwt,
    });
    expect(cancelled.statusCode).toBe(204);
    expect((await as.prisma.pendingRequest.findUnique({ where: { id } }))?.status).toBe('cancelled');
    expect((await pollAfter(bound, path, res)).statusCode).toBe(410);
  });
});

describe('requirement=clarification relayed (§Clarification Required, §Agent Response to Clarification)', () => {
  it("passes the AS's question down and forwards the agent's answer; the next poll is 200", async () => {
    const { res, bound, path } = await requestAt('ask');
    expect(res.statusCode).toBe(202);
    expect(res.headers['aauth-requirement']).toBe('requirement=clarification');
    expect(res.json()).toEqual({
      status: 'pending',
      clarification: 'Which project?',
      options: ['alpha', 'beta'],
      timeout: expect.any(Number),
    });
    expect(res.json().timeout).toBeGreaterThan(100);
    expect(res.json().timeout).toBeLessThanOrEqual(120);

    // §Agent Response to Clarification: a missing action is 400; an updated request cannot replace a
    // request the AS holds (docs/spec-decisions.md).
    const missing = await postTo(bound, path, { clarification_response: 'alpha' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toBe('invalid_request');
    const updated = await postTo(bound, path, { action: 'updated_request', resource_token: 'x' });
    expect(updated.statusCode).toBe(400);
    expect(updated.json().error).toBe('invalid_request');

    const answered = await postTo(bound, path, {
      action: 'clarification_response',
      clarification_response: 'alpha',
    });
    expect(answered.statusCode).toBe(202);
    expect(new URL(answered.headers.location as string).pathname).toBe(path);
    // Only one answer per question.
    const twice = await postTo(bound, path, {
      action: 'clarification_response',
      clarification_response: 'alpha',
    });
    expect(twice.statusCode).toBe(400);
    await expectDelivered(await pollAfter(bound, path, answered), bound, 'ask');
  });
});

describe('402 Payment Required (§AS Response "Payment required", §PS-AS Trust Establishment)', () => {
  it('the demo payment is relayed as an interaction; once paid the poll is 200 and the PS caches the billing', async () => {
    const { res, bound, path } = await requestAt('paid');
    expect(res.statusCode).toBe(202);
    const { url, code } = requirementOf(res) as { requirement: 'interaction'; url: string; code: string };
    expect(url).toMatch(new RegExp(`^${AS_ISSUER}/billing/[A-Za-z0-9_-]{43}$`));
    expect(res.json()).toEqual({ status: 'pending' });
    // Unpaid: the same step again.
    const unpaid = await pollAfter(bound, path, res);
    expect(requirementOf(unpaid)).toEqual(requirementOf(res));

    await payAtAs(url, code);
    await expectDelivered(await pollAfter(bound, path, unpaid), bound, 'paid');
    expect(await t.prisma.asBilling.findUnique({ where: { accessServer: AS_ISSUER } })).toMatchObject({
      method: 'demo',
    });
    // Later requests from this PS skip the billing step: 200 at once.
    const later = await requestAt('paid', bound);
    await expectDelivered(later.res, bound, 'paid');
  });

  it('composed: 402 (with binding) → interaction → claims → 200, each step at the same AS pending URL', async () => {
    const { res, bound, path } = await requestAt('full');
    expect(res.statusCode).toBe(202);
    // Binding asked together with the payment: the AS's own interaction first.
    const binding = requirementOf(res) as { url: string; code: string };
    expect(binding.url).toBe(`${AS_ISSUER}/interaction`);
    await bindAtAs(binding.url, binding.code);

    const payment = await pollAfter(bound, path, res);
    expect(payment.statusCode).toBe(202);
    const billing = requirementOf(payment) as { url: string; code: string };
    expect(billing.url).toMatch(new RegExp(`^${AS_ISSUER}/billing/`));
    await payAtAs(billing.url, billing.code);

    // Paid and bound: the AS asks for claims, the PS answers them, the AS grants — all in this poll.
    await expectDelivered(await pollAfter(bound, path, payment), bound, 'full');
    const asId = await asPendingId(path);
    expect((await as.prisma.pendingRequest.findUnique({ where: { id: asId } }))?.claims).toMatchObject({
      sub: bound.personToken.sub,
      email: 'alice@example.com',
    });
  });
});
