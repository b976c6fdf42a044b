import {
  Denied,
  Expired,
  ExpiredResourceToken,
  Gone,
  generateKeyPair,
  InvalidResourceToken,
  parseAAuthCapabilities,
  SignatureError,
} from '@aauth-ref/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidAuthToken, NotEnrolled, RequestCancelled, UnsupportedRequirement } from '../src/index.js';
import { createWorld, INTERACTION_CODE, PERSON_SUB, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

/** A three-party endpoint like the demo's `/api/notes`: person-token, then auth-token with `scope`. */
function routeNotes(scope = 'notes.read') {
  world.rs.route('GET', '/api/notes', async (request) => {
    const token = world.tokenOf(await world.verify(request));
    if (token.kind === 'agent')
      return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
    const granted =
      token.kind === 'auth' ? String((token.claims as { scope?: string }).scope ?? '').split(' ') : [];
    if (!granted.includes(scope)) {
      const rt = world.resourceToken(token.cnfKey!.thumbprint, {
        scope: [...granted, scope].filter(Boolean).join(' '),
      });
      return { status: 401, headers: requirementHeader({ requirement: 'auth-token', 'resource-token': rt }) };
    }
    return { status: 200, body: { notes: [], sub: token.claims.sub } };
  });
}

describe('enrollment and agent token (bootstrap draft, Web App Enrollment, Two-Key Refresh)', () => {
  it('enrolls with hwk, shows the interaction, polls, then obtains an agent token with jkt-jwt', async () => {
    const agent = world.makeAgent();
    const identity = await agent.enroll(world.ps.url);
    expect(world.interactions).toEqual([{ url: `${world.ps.url}/interaction`, code: INTERACTION_CODE }]);
    expect(world.ps.hits('POST', '/agent/enroll')).toBe(1);
    expect(world.ps.hits('GET', '/agent/enroll/pending/1')).toBe(1);
    expect(world.ps.hits('POST', '/agent/token')).toBe(1);
    expect(identity.agent_provider).toBe(world.ps.url);
    expect(identity.ps).toBe(world.ps.url);
    expect(identity.key_thumbprint).not.toBe(identity.durable_jkt);
    // Retry-After: 0 → no wait.
    // Retry-After: 0 → polled at once.
    expect(world.sleeps).toEqual([]);
  });

  it('refreshes the agent token with a fresh ephemeral key before expiry', async () => {
    const agent = await world.enrolledAgent();
    const before = await agent.whoami();
    world.clock.advance((3600 - 30) * 1000);
    const after = await agent.whoami();
    expect(world.ps.hits('POST', '/agent/token')).toBe(1);
    expect(after.key_thumbprint).not.toBe(before.key_thumbprint);
    expect(after.durable_jkt).toBe(before.durable_jkt);
  });

  it.each([
    [403, { error: 'denied' }, Denied],
    [408, { error: 'expired' }, Expired],
    [410, { error: 'gone' }, Gone],
  ])('stops polling on terminal %i (§Deferred Response State Machine)', async (status, body, cls) => {
    world.ps.route('GET', '/agent/enroll/pending/1', () => ({ status, body }));
    await expect(world.makeAgent().enroll(world.ps.url)).rejects.toBeInstanceOf(cls);
    expect(world.ps.hits('GET', '/agent/enroll/pending/1')).toBe(1);
  });

  it('refuses to act before enrollment with a typed error', async () => {
    await expect(world.makeAgent().fetch(`${world.rs.url}/api/notes`)).rejects.toBeInstanceOf(NotEnrolled);
  });
});

describe('requirements (§Requirement Values)', () => {
  it('agent identity: signs with the agent token; requirement=agent-token retries with it', async () => {
    const agent = await world.enrolledAgent();
    world.rs.route('GET', '/api/me', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'person')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return { status: 200, body: { sub: token.claims.sub } };
    });
    world.rs.route('GET', '/api/agent/whoami', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'agent')
        return { status: 401, headers: requirementHeader({ requirement: 'agent-token' }) };
      return { status: 200, body: { agent: token.claims.sub } };
    });
    const me = await agent.fetch(`${world.rs.url}/api/me`);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ sub: PERSON_SUB });
    expect(world.ps.hits('POST', '/person')).toBe(1);
    // Now a person token is held for the resource and is presented first; agent-token makes it retry.
    const whoami = await agent.fetch(`${world.rs.url}/api/agent/whoami`);
    expect(whoami.status).toBe(200);
    expect(world.rs.hits('GET', '/api/agent/whoami')).toBe(2);
    // The cached person token is reused (§Person Token Endpoint: cache until it expires).
    expect((await agent.fetch(`${world.rs.url}/api/me`)).status).toBe(200);
    expect(world.ps.hits('POST', '/person')).toBe(1);
  });

  it('three-party: person-token, then auth-token exchanged at the PS, cached, then step-up', async () => {
    const agent = await world.enrolledAgent();
    routeNotes('notes.read');
    const first = await agent.fetch(`${world.rs.url}/api/notes`);
    expect(first.status).toBe(200);
    expect(world.ps.hits('POST', '/person')).toBe(1);
    expect(world.ps.hits('POST', '/token')).toBe(1);
    expect(world.rs.hits('GET', '/api/notes')).toBe(3);
    // Cached auth token: one request.
    await agent.fetch(`${world.rs.url}/api/notes`);
    expect(world.rs.hits('GET', '/api/notes')).toBe(4);
    // Step-up (§Auth Token Required): a new challenge to a request carrying an auth token.
    routeNotes('notes.write');
    expect((await agent.fetch(`${world.rs.url}/api/notes`)).status).toBe(200);
    expect(world.ps.hits('POST', '/token')).toBe(2);
    const [held] = (await agent.tokens()).filter((t) => t.kind === 'auth');
    expect(held?.claims?.scope).toBe('notes.read notes.write');
  });

  it('sends AAuth-Capabilities to resources only; PS requests carry the capabilities member', async () => {
    const agent = await world.enrolledAgent({ onClarification: () => ({ action: 'cancel' }) });
    routeNotes();
    await agent.fetch(`${world.rs.url}/api/notes`);
    for (const request of world.rs.requests) {
      expect([...(parseAAuthCapabilities(request.headers['aauth-capabilities']) ?? [])]).toEqual([
        'interaction',
        'clarification',
      ]);
    }
    const psPosts = world.ps.requests.filter((r) => r.method === 'POST');
    expect(psPosts.length).toBe(2);
    for (const request of psPosts) {
      expect(request.headers['aauth-capabilities']).toBeUndefined();
      expect(request.json().capabilities).toEqual(['interaction', 'clarification']);
    }
  });

  it('an unknown requirement is a typed error and is not retried (§Requirement Values)', async () => {
    const agent = await world.enrolledAgent();
    world.rs.route('GET', '/x', () => ({
      status: 401,
      headers: { 'aauth-requirement': 'requirement=telepathy' },
    }));
    const error = await agent.fetch(`${world.rs.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedRequirement);
    expect((error as UnsupportedRequirement).requirement).toBe('telepathy');
    expect((error as UnsupportedRequirement).error).toBe('unsupported_requirement');
    expect(world.rs.hits('GET', '/x')).toBe(1);
  });

  it('a 202 with an unknown requirement is a typed error too', async () => {
    const agent = await world.enrolledAgent();
    world.rs.route('GET', '/x', () => ({
      status: 202,
      headers: { location: '/pending/9', 'retry-after': '0', 'aauth-requirement': 'requirement=telepathy' },
      body: { status: 'pending' },
    }));
    await expect(agent.fetch(`${world.rs.url}/x`)).rejects.toBeInstanceOf(UnsupportedRequirement);
    expect(world.rs.hits('GET', '/pending/9')).toBe(0);
  });

  it('a Signature-Error answer is a SignatureError carrying the code and detail', async () => {
    const agent = await world.enrolledAgent();
    world.rs.route('GET', '/x', () => ({
      status: 401,
      headers: { 'signature-error': 'error=invalid_signature' },
      body: { error: 'invalid_signature', detail: 'bad signature' },
    }));
    const error = await agent.fetch(`${world.rs.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
    expect((error as SignatureError).error).toBe('invalid_signature');
    expect((error as SignatureError).detail).toBe('bad signature');
  });

  it('signs a body with content-type and content-digest covered (§Covered Components)', async () => {
    const agent = await world.enrolledAgent();
    world.rs.route('POST', '/api/agent/echo', async (request) => {
      const verified = await world.verify(request, { requireBodyComponents: true });
      return { status: 201, body: { components: verified.components, text: request.json().text } };
    });
    const response = await agent.fetch(`${world.rs.url}/api/agent/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'hi' }),
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { components: string[]; text: string };
    expect(body.text).toBe('hi');
    expect(body.components).toEqual(expect.arrayContaining(['"content-type"', '"content-digest"']));
  });
});

describe('§Resource Challenge Verification: refused without contacting the PS', () => {
  const cases: [string, (world: World, jkt: string) => string, unknown][] = [
    ['wrong iss', (w, jkt) => forged(w, jkt, { iss: 'http://127.0.0.1:1' }), InvalidResourceToken],
    ['wrong agent_jkt', (w) => w.resourceToken('A'.repeat(43)), InvalidResourceToken],
    ['wrong ps', (w, jkt) => w.resourceToken(jkt, { ps: 'http://127.0.0.1:2' }), InvalidResourceToken],
    ['wrong sub', (w, jkt) => w.resourceToken(jkt, { sub: 'someone-else' }), InvalidResourceToken],
    [
      'expired',
      (w, jkt) =>
        w.resourceToken(jkt, {
          exp: Math.floor(w.clock.now() / 1000) - 1,
          iat: Math.floor(w.clock.now() / 1000) - 100,
        }),
      ExpiredResourceToken,
    ],
  ];

  it.each(cases)('%s', async (_name, make, cls) => {
    const agent = await world.enrolledAgent();
    world.rs.route('GET', '/api/notes', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind === 'agent')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return {
        status: 401,
        headers: requirementHeader({
          requirement: 'auth-token',
          'resource-token': make(world, token.cnfKey!.thumbprint),
        }),
      };
    });
    await expect(agent.fetch(`${world.rs.url}/api/notes`)).rejects.toBeInstanceOf(cls);
    expect(world.ps.hits('POST', '/token')).toBe(0);
  });
});

/** A resource token signed by the resource's key but claiming another issuer. */
function forged(w: World, jkt: string, claims: Record<string, unknown>): string {
  const token = w.resourceToken(jkt);
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
  return [
    header,
    Buffer.from(JSON.stringify({ ...decoded, ...claims })).toString('base64url'),
    signature,
  ].join('.');
}

describe('§Auth Token Response Verification: refused, not cached', () => {
  it.each([
    ['iss other than the resource token aud', { iss: 'http://127.0.0.1:3' }],
    ['aud other than the resource', { aud: 'http://127.0.0.1:4' }],
    ['sub other than the person', { sub: 'someone-else' }],
    ['cnf another key', 'cnf'],
  ] as const)('%s', async (_name, override) => {
    const agent = await world.enrolledAgent();
    routeNotes();
    world.ps.route('POST', '/token', async (request) => {
      const token = world.tokenOf(await world.verify(request, { requireBodyComponents: true }));
      const rt = request.json().resource_token as string;
      const otherKey = generateKeyPair().jwk;
      const auth_token =
        override === 'cnf'
          ? world.issueAuthToken(rt, otherKey)
          : 'iss' in override
            ? forgedAuth(world.issueAuthToken(rt, token.cnfKey!.jwk), override)
            : world.issueAuthToken(rt, token.cnfKey!.jwk, override);
      return { status: 200, body: { auth_token, expires_in: 3600 } };
    });
    await expect(agent.fetch(`${world.rs.url}/api/notes`)).rejects.toBeInstanceOf(InvalidAuthToken);
    expect((await agent.tokens()).filter((t) => t.kind === 'auth')).toEqual([]);
  });

  it('refuses an auth token whose signature does not verify', async () => {
    const agent = await world.enrolledAgent();
    routeNotes();
    world.ps.route('POST', '/token', async (request) => {
      const token = world.tokenOf(await world.verify(request, { requireBodyComponents: true }));
      const real = world.issueAuthToken(request.json().resource_token as string, token.cnfKey!.jwk);
      const [h, p] = real.split('.');
      return { status: 200, body: { auth_token: `${h}.${p}.${Buffer.alloc(64).toString('base64url')}` } };
    });
    await expect(agent.fetch(`${world.rs.url}/api/notes`)).rejects.toBeInstanceOf(InvalidAuthToken);
  });
});

function forgedAuth(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
  return [
    header,
    Buffer.from(JSON.stringify({ ...decoded, ...claims })).toString('base64url'),
    signature,
  ].join('.');
}

describe('deferred responses at the PS (§Deferred Response State Machine)', () => {
  function deferToken(replies: { status: number; headers?: Record<string, string>; body?: unknown }[]) {
    world.ps.route('POST', '/token', async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      return {
        status: 202,
        headers: {
          location: '/pending/7',
          'retry-after': '0',
          'cache-control': 'no-store',
          ...requirementHeader({
            requirement: 'interaction',
            url: `${world.ps.url}/interaction`,
            code: INTERACTION_CODE,
          }),
        },
        body: { status: 'pending' },
      };
    });
    world.ps.route('GET', '/pending/7', async (request) => {
      const reply = replies.shift();
      if (reply) return reply;
      const token = world.tokenOf(await world.verify(request));
      const rt = world.resourceToken(token.cnfKey!.thumbprint);
      return { status: 200, body: { auth_token: world.issueAuthToken(rt, token.cnfKey!.jwk) } };
    });
  }

  it('honours Retry-After, adds 5 s per 429, prompts once, stops prompting on interacting', async () => {
    const agent = await world.enrolledAgent();
    routeNotes();
    deferToken([
      { status: 429, body: { error: 'slow_down' } },
      {
        status: 202,
        headers: {
          location: '/pending/7',
          'retry-after': '2',
          ...requirementHeader({
            requirement: 'interaction',
            url: `${world.ps.url}/interaction`,
            code: INTERACTION_CODE,
          }),
        },
        body: { status: 'interacting' },
      },
      { status: 202, headers: { location: '/pending/7' }, body: { status: 'pending' } },
    ]);
    const response = await agent.fetch(`${world.rs.url}/api/notes`);
    expect(response.status).toBe(200);
    expect(world.interactions).toEqual([{ url: `${world.ps.url}/interaction`, code: INTERACTION_CODE }]);
    // 202 Retry-After 0 → poll at once (0 s); 429 → 5 s + 5 s; 202 Retry-After 2 → 2 + 5; no Retry-After → 5 + 5.
    expect(world.sleeps).toEqual([10_000, 7_000, 10_000]);
  });

  it.each([
    [403, 'denied', Denied],
    [408, 'expired', Expired],
    [410, 'gone', Gone],
  ])('terminal %i %s is a typed error', async (status, error, cls) => {
    const agent = await world.enrolledAgent();
    routeNotes();
    deferToken([{ status, body: { error, detail: 'from the PS' } }]);
    const thrown = await agent.fetch(`${world.rs.url}/api/notes`).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(cls);
    expect((thrown as Denied).detail).toBe('from the PS');
    expect(world.ps.hits('GET', '/pending/7')).toBe(1);
  });
});

describe('clarification (§Agent Response to Clarification)', () => {
  function clarify() {
    world.ps.route('POST', '/token', () => ({
      status: 202,
      headers: {
        location: '/pending/c',
        'retry-after': '0',
        ...requirementHeader({ requirement: 'clarification' }),
      },
      body: { status: 'pending', clarification: 'Why?', timeout: 60 },
    }));
  }

  it('posts a clarification_response and resumes polling', async () => {
    const prompts: string[] = [];
    const agent = await world.enrolledAgent({
      onClarification: (prompt) => {
        prompts.push(prompt.clarification);
        return { action: 'clarification_response', clarification_response: 'To list your notes.' };
      },
    });
    routeNotes();
    clarify();
    world.ps.route('POST', '/pending/c', async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      expect(request.json()).toEqual({
        action: 'clarification_response',
        clarification_response: 'To list your notes.',
      });
      return {
        status: 202,
        headers: { location: '/pending/c', 'retry-after': '1' },
        body: { status: 'pending' },
      };
    });
    world.ps.route('GET', '/pending/c', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const rt = world.resourceToken(token.cnfKey!.thumbprint);
      return { status: 200, body: { auth_token: world.issueAuthToken(rt, token.cnfKey!.jwk) } };
    });
    expect((await agent.fetch(`${world.rs.url}/api/notes`)).status).toBe(200);
    expect(prompts).toEqual(['Why?']);
    expect(world.ps.hits('POST', '/pending/c')).toBe(1);
  });

  it('cancels with DELETE and surfaces RequestCancelled', async () => {
    const agent = await world.enrolledAgent({ onClarification: () => ({ action: 'cancel' }) });
    routeNotes();
    clarify();
    world.ps.route('DELETE', '/pending/c', () => ({ status: 204 }));
    await expect(agent.fetch(`${world.rs.url}/api/notes`)).rejects.toBeInstanceOf(RequestCancelled);
    expect(world.ps.hits('DELETE', '/pending/c')).toBe(1);
  });
});

describe('resource deferred delivery and session tokens', () => {
  it('202 auth-token: obtains the auth token and completes at the pending URL (§Deferred Delivery)', async () => {
    const agent = await world.enrolledAgent();
    routeNotes(); // to hold a person token first
    await agent.fetch(`${world.rs.url}/api/notes`);
    world.rs.route('DELETE', '/api/notes/1', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const rt = world.resourceToken(token.cnfKey!.thumbprint, { scope: 'notes.write' });
      return {
        status: 202,
        headers: {
          location: '/pending/d',
          'retry-after': '5',
          ...requirementHeader({ requirement: 'auth-token', 'resource-token': rt }),
        },
        body: { status: 'pending' },
      };
    });
    world.rs.route('GET', '/pending/d', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'auth' || !String(token.claims.scope).includes('notes.write')) {
        return { status: 202, headers: { location: '/pending/d' }, body: { status: 'pending' } };
      }
      return { status: 200, body: { deleted: '1' } };
    });
    const response = await agent.fetch(`${world.rs.url}/api/notes/1`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deleted: '1' });
    expect(world.rs.hits('DELETE', '/api/notes/1')).toBe(1);
    expect(world.rs.hits('GET', '/pending/d')).toBe(1);
  });

  it('stores the AAuth-Access session token, sends it covered by the signature, replaces it when rolled', async () => {
    const agent = await world.enrolledAgent();
    const seen: (string | undefined)[] = [];
    world.rs.route('GET', '/api/journal', async (request) => {
      const verified = await world.verify(request);
      const auth = request.headers.authorization;
      seen.push(auth);
      if (auth === undefined) {
        return {
          status: 202,
          headers: {
            location: '/pending/j',
            'retry-after': '0',
            ...requirementHeader({
              requirement: 'interaction',
              url: `${world.rs.url}/interaction`,
              code: INTERACTION_CODE,
            }),
          },
          body: { status: 'pending' },
        };
      }
      expect(verified.components).toContain('"authorization"');
      const rolled: Record<string, string> = auth === 'AAuth tok1' ? { 'aauth-access': 'tok2' } : {};
      return { status: 200, headers: rolled, body: { via: 'session-token' } };
    });
    world.rs.route('GET', '/pending/j', () => ({
      status: 200,
      headers: { 'aauth-access': 'tok1' },
      body: { notes: [] },
    }));
    expect((await agent.fetch(`${world.rs.url}/api/journal`)).status).toBe(200);
    expect(world.interactions).toEqual([{ url: `${world.rs.url}/interaction`, code: INTERACTION_CODE }]);
    await agent.fetch(`${world.rs.url}/api/journal`);
    await agent.fetch(`${world.rs.url}/api/journal`);
    expect(seen).toEqual([undefined, 'AAuth tok1', 'AAuth tok2']);
  });
});
