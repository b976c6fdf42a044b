import { decodeJwtUnverified, Forbidden, InvalidAgentToken } from '@aauth-ref/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SubAgentRefused } from '../src/index.js';
import { createWorld, PERSON_SUB, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

/** The thumbprint of the key that signed a stub request, and the token it presented. */
async function signerOf(request: Parameters<World['verify']>[0]) {
  const verified = await world.verify(request);
  const token = world.tokenOf(verified);
  return { jkt: verified.key.thumbprint, token };
}

describe('§Sub-Agent Identity', () => {
  it('creates a sub-agent: its own key, a token from the AP naming the parent, local = parent + "+" + name', async () => {
    const agent = await world.enrolledAgent();
    const parent = await agent.whoami();
    const sub = await agent.createSubAgent('search1');

    const request = world.ps.requests.find((r) => r.path === '/agent/subagent-token')!;
    const { jkt, token } = await signerOf(request);
    // Signed by the parent with its own agent token.
    expect(jkt).toBe(parent.key_thumbprint);
    expect(token.kind).toBe('agent');
    expect(token.claims.sub).toBe(parent.agent);
    const body = request.json();
    expect(body.discriminator).toBe('search1');
    expect(Object.keys(body.jwk as object).sort()).toEqual(['alg', 'crv', 'kty', 'x']);

    const [local, domain] = parent.agent.slice('aauth:'.length).split('@');
    expect(sub).toMatchObject({
      name: 'search1',
      agent: `aauth:${local}+search1@${domain}`,
      parent_agent: parent.agent,
    });
    expect(sub.key_thumbprint).not.toBe(parent.key_thumbprint);
    expect(await agent.subAgents()).toEqual([sub]);
  });

  it('refuses a sub-agent token that does not name this agent as parent_agent', async () => {
    const agent = await world.enrolledAgent();
    world.ps.route('POST', '/agent/subagent-token', async (request) => {
      const body = request.json();
      const agent_token = world.ap.issue(
        'agent',
        {
          sub: 'aauth:other+x@127.0.0.1',
          cnf: { jwk: body.jwk },
          ps: world.ps.url,
          parent_agent: 'aauth:other@127.0.0.1',
        } as never,
        { clock: world.clock, lifetimeSeconds: 3600 },
      );
      return { status: 200, body: { agent_token } };
    });
    await expect(agent.createSubAgent('x')).rejects.toBeInstanceOf(InvalidAgentToken);
    expect(await agent.subAgents()).toEqual([]);
  });

  it('§Single-Level Depth: an agent whose own token has parent_agent creates no sub-agent', async () => {
    const agent = world.makeAgent();
    world.ps.route('POST', '/agent/token', async (request) => {
      const verified = await world.verify(request, { schemes: ['jkt-jwt'], requireBodyComponents: true });
      if (verified.signer.scheme !== 'jkt-jwt') throw new Error('not jkt-jwt');
      const agent_token = world.ap.issue(
        'agent',
        {
          sub: 'aauth:parent+child@127.0.0.1',
          cnf: { jwk: verified.signer.newKey.jwk },
          ps: world.ps.url,
          parent_agent: 'aauth:parent@127.0.0.1',
        } as never,
        { clock: world.clock, lifetimeSeconds: 3600 },
      );
      return { status: 200, body: { agent_token } };
    });
    await agent.enroll(world.ps.url);
    await expect(agent.createSubAgent('deeper')).rejects.toBeInstanceOf(SubAgentRefused);
    expect(world.ps.hits('POST', '/agent/subagent-token')).toBe(0);
  });

  it('surfaces the AP refusing a sub-agent as its typed error', async () => {
    const agent = await world.enrolledAgent();
    world.ps.route('POST', '/agent/subagent-token', () => ({
      status: 403,
      body: { error: 'forbidden', detail: 'A sub-agent cannot have sub-agents.' },
    }));
    await expect(agent.createSubAgent('x')).rejects.toBeInstanceOf(Forbidden);
  });

  it('refuses a name outside the discriminator alphabet without contacting the AP', async () => {
    const agent = await world.enrolledAgent();
    await expect(agent.createSubAgent('Bad+Name')).rejects.toBeInstanceOf(SubAgentRefused);
    expect(world.ps.hits('POST', '/agent/subagent-token')).toBe(0);
  });
});

describe('§Parent-Mediated Authorization', () => {
  it('the sub-agent signs with its own key; the parent obtains its person and auth tokens with subagent_token', async () => {
    const agent = await world.enrolledAgent();
    const parent = await agent.whoami();
    const identity = await agent.createSubAgent('worker');
    world.rs.route('GET', '/api/notes', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind === 'agent')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      if (token.kind === 'person') {
        const rt = world.resourceToken(token.cnfKey!.thumbprint);
        return {
          status: 401,
          headers: requirementHeader({ requirement: 'auth-token', 'resource-token': rt }),
        };
      }
      return { status: 200, body: { sub: token.claims.sub } };
    });

    const response = await agent.subAgent('worker').fetch(`${world.rs.url}/api/notes`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: PERSON_SUB });

    // Every resource request is signed by the sub-agent's key: agent, person, then auth token.
    const atResource = await Promise.all(
      world.rs.requests.filter((r) => r.path === '/api/notes').map(signerOf),
    );
    expect(atResource.map((s) => s.jkt)).toEqual([
      identity.key_thumbprint,
      identity.key_thumbprint,
      identity.key_thumbprint,
    ]);
    expect(atResource.map((s) => s.token.kind)).toEqual(['agent', 'person', 'auth']);
    expect(atResource[0]!.token.claims.sub).toBe(identity.agent);

    // The PS is called only by the parent, signing with its own key, naming the sub-agent.
    for (const path of ['/person', '/token']) {
      const request = world.ps.requests.find((r) => r.path === path)!;
      const { jkt, token } = await signerOf(request);
      expect(jkt).toBe(parent.key_thumbprint);
      expect(token.claims.sub).toBe(parent.agent);
      const body = request.json();
      const sub = decodeJwtUnverified(body.subagent_token as string).payload;
      expect(sub.sub).toBe(identity.agent);
      expect(sub.parent_agent).toBe(parent.agent);
    }
    expect(world.ps.requests.find((r) => r.path === '/person')!.json().resource).toBe(world.rs.url);
    // The auth token binds the sub-agent's key; the parent's own cache for the resource stays empty.
    const held = await agent.tokens();
    const auth = held.find((t) => t.kind === 'auth')!;
    expect(auth.resource).toBe(`${world.rs.url} as worker`);
    expect(held.some((t) => t.kind === 'auth' && t.resource === world.rs.url)).toBe(false);

    // A second call reuses the sub-agent's auth token: one request, no PS call.
    const before = world.ps.requests.length;
    expect((await agent.subAgent('worker').fetch(`${world.rs.url}/api/notes`)).status).toBe(200);
    expect(world.ps.requests.length).toBe(before);
  });

  it('renews the sub-agent token through the parent before it expires, keeping the key', async () => {
    const agent = await world.enrolledAgent();
    const first = await agent.createSubAgent('worker');
    world.rs.route('GET', '/whoami', async (request) => {
      const { jkt, token } = await signerOf(request);
      return { status: 200, body: { jkt, agent: token.claims.sub } };
    });
    world.clock.advance((3600 - 30) * 1000);
    const response = await agent.subAgent('worker').fetch(`${world.rs.url}/whoami`);
    expect(await response.json()).toEqual({ jkt: first.key_thumbprint, agent: first.agent });
    expect(world.ps.hits('POST', '/agent/subagent-token')).toBe(2);
  });

  it('an unknown sub-agent is a typed error', async () => {
    const agent = await world.enrolledAgent();
    await expect(agent.subAgent('nobody').fetch(`${world.rs.url}/x`)).rejects.toBeInstanceOf(SubAgentRefused);
  });
});
