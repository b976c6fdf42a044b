import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { createTestIssuer } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from './support/app-harness.js';
import { sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approve,
  type BoundAgent,
  bindAgentWithPersonToken,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  postPending,
  requestAuthToken,
  requestIdOf,
} from './support/token-flow.js';

const agentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: 'https://calendar.example',
  metadata: { name: 'Example Calendar', scope_descriptions: { 'data.read': 'Read', 'data.write': 'Write' } },
});
const keys = createLocalKeyResolver([agentProvider, resource]);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: keys });
});
afterAll(async () => {
  await t?.close();
});

interface OpenFlow {
  bound: BoundAgent;
  pending: string;
  browser: Browser;
  page: LightMyRequestResponse;
}

/** An auth token request with the clarification capability, opened by alice. */
async function openFlow(capabilities = ['interaction', 'clarification']): Promise<OpenFlow> {
  const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
  const res = await requestAuthToken(t, bound.agent, {
    resource_token: mintResourceToken(t, resource, bound).jwt,
    justification: 'Plan the offsite.',
    capabilities,
  });
  expect(res.statusCode).toBe(202);
  const { browser, page } = await openCode(t, codeOf(res));
  expect(page.statusCode).toBe(200);
  return { bound, pending: pathOf(res), browser, page };
}

async function ask(flow: OpenFlow, question: string) {
  const asked = await flow.browser.post('/interaction/clarify', {
    _csrf: flow.browser.csrf(),
    request: requestIdOf(flow.page.body),
    question,
  });
  if (asked.statusCode === 303) flow.page = await flow.browser.get(String(asked.headers.location));
  return asked;
}

describe('clarification chat (§Clarification Chat, §Agent Response to Clarification)', () => {
  it('round trip: the person asks, the poll carries the question, the agent answers, the page shows it, approval issues', async () => {
    const flow = await openFlow();
    expect(flow.page.body).toContain('<label for="field-question">Your question</label>');
    const asked = await ask(flow, 'Why do you need **write** access?');
    expect(asked.statusCode).toBe(303);
    expect(flow.page.body).toContain('Why do you need <strong>write</strong> access?');
    expect(flow.page.body).toContain("Waiting for the agent's answer");

    // §Clarification Required: 202, requirement=clarification, the question in the body.
    const polled = await poll(t, flow.bound.agent, flow.pending);
    expect(polled.statusCode).toBe(202);
    expect(polled.headers['aauth-requirement']).toBe('requirement=clarification');
    expect(polled.headers['cache-control']).toBe('no-store');
    expect(polled.headers.location).toBe(`http://localhost:3001${flow.pending}`);
    const body = polled.json();
    expect(body.status).toBe('interacting');
    expect(body.clarification).toBe('Why do you need **write** access?');
    expect(body.timeout).toEqual(expect.any(Number));

    const answered = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'clarification_response',
      clarification_response: 'To create the invite. <script>alert(1)</script>',
    });
    expect(answered.statusCode).toBe(202);
    expect(answered.headers.location).toBe(`http://localhost:3001${flow.pending}`);

    const after = await poll(t, flow.bound.agent, flow.pending);
    expect(after.statusCode).toBe(202);
    expect(after.headers['aauth-requirement']).toBeUndefined();
    expect(after.json()).toEqual({ status: 'interacting' });

    flow.page = await flow.browser.get(`/interaction/requests/${requestIdOf(flow.page.body)}`);
    expect(flow.page.body).toContain('The agent answered');
    expect(flow.page.body).toContain('To create the invite.');
    expect(flow.page.body).not.toContain('<script>');
    const decided = await approve(flow.browser, flow.page);
    expect(decided.statusCode).toBe(200);
    const done = await poll(t, flow.bound.agent, flow.pending);
    expect(done.statusCode).toBe(200);
    expect(done.json().auth_token).toEqual(expect.any(String));
  });

  it('allows 5 rounds (§Clarification Limits); the form disappears and a 6th question is refused', async () => {
    const flow = await openFlow();
    for (let round = 1; round <= 5; round++) {
      expect((await ask(flow, `Question ${round}?`)).statusCode).toBe(303);
      const answered = await postPending(t, flow.bound.agent, flow.pending, {
        action: 'clarification_response',
        clarification_response: `Answer ${round}.`,
      });
      expect(answered.statusCode).toBe(202);
    }
    flow.page = await flow.browser.get(`/interaction/requests/${requestIdOf(flow.page.body)}`);
    expect(flow.page.body).not.toContain('name="question"');
    expect(flow.page.body).toContain('You have asked as many questions as this request allows.');
    const sixth = await ask(flow, 'Question 6?');
    expect(sixth.statusCode).toBe(400);
    expect(sixth.body).toContain('You have asked as many questions as this request allows.');
  });

  it('offers no chat when the request did not declare the clarification capability', async () => {
    const flow = await openFlow(['interaction']);
    expect(flow.page.body).not.toContain('name="question"');
    const refused = await ask(flow, 'Why?');
    expect(refused.statusCode).toBe(400);
  });

  it('rejects a POST with a missing or unknown action with 400 invalid_request', async () => {
    const flow = await openFlow();
    await ask(flow, 'Why?');
    const missing = await postPending(t, flow.bound.agent, flow.pending, {
      clarification_response: 'Because.',
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toBe('invalid_request');
    const unknown = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'shrug',
      clarification_response: 'Because.',
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toBe('invalid_request');
    // The question is still open.
    const polled = await poll(t, flow.bound.agent, flow.pending);
    expect(polled.headers['aauth-requirement']).toBe('requirement=clarification');
  });

  it('rejects an answer when no question is open, and from another agent as unknown (404)', async () => {
    const flow = await openFlow();
    const early = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'clarification_response',
      clarification_response: 'Unasked.',
    });
    expect(early.statusCode).toBe(400);
    expect(early.json().error).toBe('invalid_request');
    const other = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    await ask(flow, 'Why?');
    const foreign = await postPending(t, other.agent, flow.pending, {
      action: 'clarification_response',
      clarification_response: 'Not mine.',
    });
    expect(foreign.statusCode).toBe(404);
  });

  it('rejects updated_request on a person token request with 400 invalid_request', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    t.clock.advance(100);
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/person',
      key: bound.agent.key,
      signatureKey: bound.agent.jwt,
      body: { resource: 'https://other.example', capabilities: ['interaction', 'clarification'] },
    });
    expect(res.statusCode).toBe(202);
    const updated = await postPending(t, bound.agent, pathOf(res), {
      action: 'updated_request',
      resource_token: mintResourceToken(t, resource, bound).jwt,
    });
    expect(updated.statusCode).toBe(400);
    expect(updated.json().error).toBe('invalid_request');
  });

  it('updated_request: a token that changes sub is 400 invalid_resource_token', async () => {
    const flow = await openFlow();
    await ask(flow, 'Do you really need write?');
    const changed = mintResourceToken(t, resource, flow.bound, {
      scope: 'data.read',
      claims: { sub: 'someone-else' },
    });
    const res = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'updated_request',
      resource_token: changed.jwt,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_resource_token');
  });

  it('updated_request: a forged token (unknown key) is 400 invalid_resource_token', async () => {
    const flow = await openFlow();
    await ask(flow, 'Why?');
    const forged = createTestIssuer({ dwk: DWK.resource, issuer: resource.issuer });
    const res = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'updated_request',
      resource_token: mintResourceToken(t, forged, flow.bound, { scope: 'data.read' }).jwt,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_resource_token');
  });

  it('updated_request: a valid narrower token is shown and approval issues that scope', async () => {
    const flow = await openFlow();
    await ask(flow, 'Do you really need write?');
    const narrower = mintResourceToken(t, resource, flow.bound, { scope: 'data.read' });
    const res = await postPending(t, flow.bound.agent, flow.pending, {
      action: 'updated_request',
      resource_token: narrower.jwt,
      justification: "I've reduced my request to **read-only** access.",
    });
    expect(res.statusCode).toBe(202);
    // A decision on the page shown before the update is refused: the request changed.
    const stale = await approve(flow.browser, flow.page);
    expect(stale.statusCode).toBe(409);
    flow.page = await flow.browser.get(`/interaction/requests/${requestIdOf(flow.page.body)}`);
    expect(flow.page.body).toContain('The agent changed its request');
    expect(flow.page.body).toContain('<code>data.read</code>');
    expect(flow.page.body).not.toContain('<code>data.write</code>');
    expect(flow.page.body).toContain('<strong>read-only</strong>');
    expect((await approve(flow.browser, flow.page)).statusCode).toBe(200);
    const done = await poll(t, flow.bound.agent, flow.pending);
    expect(done.statusCode).toBe(200);
    expect(decodeClaims(done.json().auth_token).scope).toBe('data.read');
  });

  it('cancel (§Cancel Request): DELETE withdraws, the page says so, the next poll is 410', async () => {
    const flow = await openFlow();
    await ask(flow, 'Why?');
    t.clock.advance(100);
    const cancelled = await sendSigned(t, {
      method: 'DELETE',
      path: flow.pending,
      key: flow.bound.agent.key,
      signatureKey: flow.bound.agent.jwt,
    });
    expect(cancelled.statusCode).toBe(204);
    const page = await flow.browser.get(`/interaction/requests/${requestIdOf(flow.page.body)}`);
    expect(page.body).toContain('The agent withdrew its request.');
    const decided = await approve(flow.browser, flow.page);
    expect(decided.body).toContain('The agent withdrew its request.');
    const polled = await poll(t, flow.bound.agent, flow.pending);
    expect(polled.statusCode).toBe(410);
  });
});

describe('ACCEPT_CLARIFICATION_WITHOUT_ACTION=1 (compatibility switch)', () => {
  let compat: TestApp;
  beforeAll(async () => {
    compat = await startTestApp({ remoteKeys: keys, env: { ACCEPT_CLARIFICATION_WITHOUT_ACTION: '1' } });
  });
  afterAll(async () => {
    await compat?.close();
  });

  it('accepts a clarification_response without action; an unknown action is still 400', async () => {
    const saved = t;
    t = compat;
    try {
      const flow = await openFlow();
      await ask(flow, 'Why?');
      const unknown = await postPending(t, flow.bound.agent, flow.pending, {
        action: 'shrug',
        clarification_response: 'Because.',
      });
      expect(unknown.statusCode).toBe(400);
      const bare = await postPending(t, flow.bound.agent, flow.pending, {
        clarification_response: 'Because the team asked.',
      });
      expect(bare.statusCode).toBe(202);
      const page = await flow.browser.get(`/interaction/requests/${requestIdOf(flow.page.body)}`);
      expect(page.body).toContain('Because the team asked.');
    } finally {
      t = saved;
    }
  });
});
