import { UserUnreachable } from '@aauth-ref/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, UnsupportedRequirement } from '../src/index.js';
import { createWorld, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

const CODE = 'X7K2-M9P4';

/** A resource whose endpoint needs the person at its own page: 202 interaction, then 200 once polled. */
function routeBooking() {
  const confirm = `${world.rs.url}/confirm`;
  world.rs.route('POST', '/api/book', async (request) => {
    await world.verify(request);
    return {
      status: 202,
      headers: {
        location: '/pending/booking',
        'retry-after': '0',
        'cache-control': 'no-store',
        ...requirementHeader({ requirement: 'interaction', url: confirm, code: CODE }),
      },
      body: { status: 'pending' },
    };
  });
  world.rs.route('GET', '/pending/booking', async (request) => {
    await world.verify(request);
    return { status: 200, body: { booked: true } };
  });
  return confirm;
}

function relayAt(path = '/interaction') {
  world.psMetadataExtra.interaction_endpoint = `${world.ps.url}${path}`;
}

describe('§Relaying Through the Person Server', () => {
  it('relays {type, url, code} to the PS interaction_endpoint, follows its 202, then completes at the resource', async () => {
    const agent = await world.enrolledAgent();
    const confirm = routeBooking();
    relayAt();
    world.ps.route('POST', '/interaction', async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      return {
        status: 202,
        headers: { location: '/interaction/pending/1', 'retry-after': '2', 'cache-control': 'no-store' },
        body: { status: 'pending' },
      };
    });
    world.ps.route('GET', '/interaction/pending/1', async (request) => {
      await world.verify(request);
      return { status: 200, body: { status: 'interacting' } };
    });

    const response = await agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ booked: true });

    const relay = world.ps.requests.find((r) => r.path === '/interaction')!;
    expect(relay.json()).toEqual({ type: 'interaction', url: confirm, code: CODE, max_wait: 60 });
    expect(relay.headers['signature-key']).toMatch(/^sig=jwt;jwt=/);
    expect(relay.headers['aauth-capabilities']).toBeUndefined();
    const signer = world.tokenOf(await world.verify(relay));
    expect(signer.claims.sub).toBe((await agent.whoami()).agent);
    // The PS reached the person: the agent did not direct them itself.
    expect(world.interactions).toEqual([]);
    // The PS relay was polled (Retry-After 2), then the resource's pending URL, which is authoritative.
    expect(world.ps.hits('GET', '/interaction/pending/1')).toBe(1);
    expect(world.rs.hits('GET', '/pending/booking')).toBe(1);
    expect(world.sleeps).toEqual([2000]);
  });

  it('names the active mission in the relay (mission_s256)', async () => {
    const agent = await world.enrolledAgent();
    relayAt();
    const mission = await agent.proposeMission({ description: 'Book a trip' });
    routeBooking();
    world.ps.route('POST', '/interaction', () => ({ status: 200, body: {} }));
    await agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' });
    expect(world.ps.requests.find((r) => r.path === '/interaction')!.json()).toMatchObject({
      mission_s256: mission.s256,
    });
  });

  it('falls back to onInteraction on 424 interaction_unavailable (§Interaction Endpoint Errors)', async () => {
    const agent = await world.enrolledAgent();
    const confirm = routeBooking();
    relayAt();
    world.ps.route('POST', '/interaction', () => ({
      status: 424,
      body: { error: 'interaction_unavailable', detail: 'No channel to the person.' },
    }));
    const response = await agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(200);
    expect(world.ps.hits('POST', '/interaction')).toBe(1);
    expect(world.interactions).toEqual([{ url: confirm, code: CODE }]);
  });

  it('without an interaction_endpoint the agent directs the person itself', async () => {
    const agent = await world.enrolledAgent();
    const confirm = routeBooking();
    await agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' });
    expect(world.ps.hits('POST', '/interaction')).toBe(0);
    expect(world.interactions).toEqual([{ url: confirm, code: CODE }]);
  });

  it('interaction_unavailable with no way to reach the person is an unsupported requirement', async () => {
    const store = createMemoryStore();
    await world.enrolledAgent({ store });
    const agent = world.makeAgent({ store, onInteraction: undefined });
    routeBooking();
    relayAt();
    world.ps.route('POST', '/interaction', () => ({
      status: 424,
      body: { error: 'interaction_unavailable' },
    }));
    await expect(
      agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' }),
    ).rejects.toBeInstanceOf(UnsupportedRequirement);
    expect(world.rs.hits('GET', '/pending/booking')).toBe(0);
  });

  it('user_unreachable from the relay is terminal, not a fallback (§Interaction Response)', async () => {
    const agent = await world.enrolledAgent();
    routeBooking();
    relayAt();
    world.ps.route('POST', '/interaction', () => ({ status: 403, body: { error: 'user_unreachable' } }));
    await expect(
      agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' }),
    ).rejects.toBeInstanceOf(UserUnreachable);
    expect(world.interactions).toEqual([]);
  });

  it("does not relay the PS's own interaction back to it: the person is brought there directly", async () => {
    const agent = await world.enrolledAgent();
    relayAt('/relay');
    world.ps.route('POST', '/relay', () => ({ status: 200, body: {} }));
    world.ps.route('POST', '/person', async (request) => {
      await world.verify(request);
      return {
        status: 202,
        headers: {
          location: '/pending/p1',
          'retry-after': '0',
          'cache-control': 'no-store',
          ...requirementHeader({
            requirement: 'interaction',
            url: `${world.ps.url}/interaction`,
            code: CODE,
          }),
        },
        body: { status: 'pending' },
      };
    });
    world.ps.route('GET', '/pending/p1', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return {
        status: 200,
        body: { person_token: world.issuePersonToken(world.rs.url, token.cnfKey!.jwk), expires_in: 3600 },
      };
    });
    world.rs.route('GET', '/api/me', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'person')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return { status: 200, body: {} };
    });
    expect((await agent.fetch(`${world.rs.url}/api/me`)).status).toBe(200);
    expect(world.ps.hits('POST', '/relay')).toBe(0);
    expect(world.interactions).toEqual([{ url: `${world.ps.url}/interaction`, code: CODE }]);
  });

  it('falls back to onInteraction when the relay expires before the person engaged (max_wait)', async () => {
    const agent = await world.enrolledAgent({ relayMaxWaitSeconds: 30 });
    const confirm = routeBooking();
    relayAt();
    world.ps.route('POST', '/interaction', () => ({
      status: 202,
      headers: { location: '/interaction/pending/2', 'retry-after': '5', 'cache-control': 'no-store' },
      body: { status: 'pending' },
    }));
    world.ps.route('GET', '/interaction/pending/2', () => ({ status: 408, body: { error: 'expired' } }));
    const response = await agent.fetch(`${world.rs.url}/api/book`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(200);
    expect(world.ps.requests.find((r) => r.path === '/interaction')!.json().max_wait).toBe(30);
    expect(world.interactions).toEqual([{ url: confirm, code: CODE }]);
  });
});
