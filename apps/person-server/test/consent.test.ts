import { createLocalKeyResolver, DWK, type IssuerKeyResolver } from '@aauth-ref/core';
import { createTestIssuer } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approve,
  bindAgentWithPersonToken,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  requestAuthToken,
} from './support/token-flow.js';

/** The agent's provider and the resource, as their metadata documents describe them. */
const agentProvider = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { name: 'Calendar Helper', description: 'Plans **meetings** for you.' },
});
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: 'https://calendar.example',
  metadata: {
    name: 'Example Calendar',
    description: 'Your *calendar* <img src=x onerror=alert(1)>',
    access_mode: 'auth-token',
    scope_descriptions: { 'data.read': 'Read your **events**', 'data.write': 'Create events' },
  },
});
/** A provider whose metadata cannot be fetched (the resolver fails for its document). */
const silentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://silent.example' });

const local = createLocalKeyResolver([agentProvider, resource, silentProvider]);
const resolver: IssuerKeyResolver = {
  resolveKey: local.resolveKey,
  metadata: async (iss, dwk) => {
    if (iss === silentProvider.issuer) throw new Error('unreachable');
    return local.metadata(iss, dwk);
  },
};

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: resolver });
});
afterAll(async () => {
  await t?.close();
});

describe('consent page content (§Person Token Endpoint, §Scopes, §Agent Token Request, §Untrusted Input)', () => {
  it('shows the agent, the resource metadata, scope descriptions, platform and device', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, resource, bound).jwt,
      justification: 'Find a time for **the team sync**.',
      platform: 'desktop',
      device: 'Firefox on Linux',
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    const { page } = await openCode(t, codeOf(res));
    expect(page.statusCode).toBe(200);
    const body = page.body;
    expect(body).toContain('Calendar Helper');
    expect(body).toContain('Plans <strong>meetings</strong> for you.');
    expect(body).toContain(bound.agent.claims.sub);
    expect(body).toContain('Example Calendar');
    expect(body).toContain('Your <em>calendar</em>');
    // Raw HTML in a Markdown description is escaped, never passed through.
    expect(body).not.toContain('<img');
    expect(body).toContain('<code>auth-token</code>');
    expect(body).toContain('<code>data.read</code>');
    expect(body).toContain('Read your <strong>events</strong>');
    expect(body).toContain('Create events');
    expect(body).toContain('desktop');
    expect(body).toContain('Firefox on Linux');
    expect(body).toContain('the team sync');
    expect(body).toMatch(/<button type="submit" name="decision" value="approve">Approve<\/button>/);
    expect(body).toMatch(
      /<button type="submit" class="secondary" name="decision" value="deny">Deny<\/button>/,
    );
  });

  it('renders a hostile justification inert: no script element, no javascript: link', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, resource, bound).jwt,
      justification: '<script>alert(1)</script> and [click me](javascript:alert(2))',
      capabilities: ['interaction'],
    });
    const { page } = await openCode(t, codeOf(res));
    expect(page.body).not.toContain('<script>');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.body).not.toMatch(/href="javascript:/i);
    expect(page.body).toContain('click me');
    // No script may run at all on the page.
    expect(page.headers['content-security-policy']).toContain("script-src 'none'");
  });

  it('still renders when the agent provider metadata is unavailable, naming the identifier', async () => {
    const bound = await bindAgentWithPersonToken(t, silentProvider, resource.issuer);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, resource, bound).jwt,
      capabilities: ['interaction'],
    });
    const { browser, page } = await openCode(t, codeOf(res));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(bound.agent.claims.sub);
    expect(page.body).toContain('Details about this agent are unavailable');
    expect(page.body).toContain('Example Calendar');
    const decided = await approve(browser, page);
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, bound.agent, pathOf(res));
    expect(answer.statusCode).toBe(200);
    expect(decodeClaims(answer.json().auth_token).scope).toBe('data.read data.write');
  });

  it('describes a person token request as acting at the resource as the person', async () => {
    // The binding request itself is a person-token consent; a second resource needs another one.
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    t.clock.advance(100);
    const res = await sendSigned(t, {
      method: 'POST',
      path: '/person',
      key: bound.agent.key,
      signatureKey: bound.agent.jwt,
      body: { resource: 'https://unknown-resource.example', capabilities: ['interaction'] },
    });
    expect(res.statusCode).toBe(202);
    const { page } = await openCode(t, codeOf(res));
    expect(page.body).toContain('To act at <strong>https://unknown-resource.example</strong> as you.');
    expect(page.body).toContain('Details about this resource are unavailable');
    expect(page.body).toContain('Calendar Helper');
  });
});
