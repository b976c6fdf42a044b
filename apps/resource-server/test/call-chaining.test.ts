import { randomUUID } from 'node:crypto';
import { MAX_TOKEN_ANSWER_BYTES } from '@aauth-ref/agent';
import { DEV, DWK, type KeyPair, parseAAuthRequirement } from '@aauth-ref/core';
import {
  buildSignedRequest,
  createTestIssuer,
  injectBuilt,
  makeAgentId,
  makeKeyPair,
} from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AS,
  type ChainStack,
  DOWNSTREAM,
  PS,
  type PsCall,
  payloadOf,
  type RoutedResponse,
  startChainStack,
  UPSTREAM,
} from './support/chain-stack.js';

/**
 * §Call Chaining, §Directed Identifiers Across a Chain, §Interaction Chaining, §Upstream Token
 * Verification (what the PS is sent): two instances of this server (the upstream one with
 * DOWNSTREAM_RESOURCE) and a stub PS, all in-process.
 */

let s: ChainStack;

beforeEach(async () => {
  s = await startChainStack();
});
afterEach(async () => {
  await s.close();
});

interface Caller {
  readonly key: KeyPair;
  readonly agentToken: string;
  readonly authToken: string;
  readonly sub: string;
}

/** The original agent, with an auth token for the upstream resource (`notes.read`) from the PS. */
function newCaller(options: { lifetimeSeconds?: number; aud?: string } = {}): Caller {
  const key = makeKeyPair();
  const agentToken = s.ap.issue('agent', { sub: makeAgentId(s.ap), cnf: { jwk: key.jwk }, ps: PS } as never, {
    clock: s.clock,
  });
  const sub = s.ps.directedSub('alice', UPSTREAM);
  const authToken = s.ps.issuer.issue(
    'auth',
    {
      aud: options.aud ?? UPSTREAM,
      ps: PS,
      sub,
      scope: 'notes.read',
      cnf: { jwk: key.jwk },
    } as never,
    { clock: s.clock, lifetimeSeconds: options.lifetimeSeconds ?? 3600 },
  );
  return { key, agentToken, authToken, sub };
}

function call(
  caller: Pick<Caller, 'key'>,
  token: string,
  path = '/chain/notes',
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return injectBuilt(
    s.upstream.app,
    buildSignedRequest({
      method: 'GET',
      path,
      key: caller.key,
      signatureKey: token,
      headers,
      clock: s.clock,
      issuer: UPSTREAM,
    }),
  );
}

async function seedDownstreamNote(sub: string, text: string): Promise<void> {
  await s.downstream.prisma.note.create({
    data: {
      id: randomUUID(),
      personIss: PS,
      personSub: sub,
      notebook: 'personal',
      text,
      createdAt: new Date(s.clock.now()),
    },
  });
}

/** Starts a chain the PS answers with `requirement=interaction`; returns the caller's pending path. */
async function startInteracting(caller: Caller): Promise<string> {
  s.ps.mode = 'interaction';
  const first = await call(caller, caller.authToken, '/chain/notes', { 'aauth-capabilities': 'interaction' });
  expect(first.statusCode).toBe(202);
  return new URL(String(first.headers.location)).pathname;
}

function requirementOf(response: LightMyRequestResponse) {
  return parseAAuthRequirement(String(response.headers['aauth-requirement'] ?? ''), DEV);
}

describe('call chaining: the resource as its own Agent Provider (§Call Chaining Identity)', () => {
  it('publishes /.well-known/aauth-agent.json with issuer = its resource identifier and its JWKS', async () => {
    const response = await s.upstream.app.inject({
      method: 'GET',
      url: `/.well-known/${DWK.agent}`,
      headers: { host: 'localhost:3003' },
    });
    expect(response.statusCode).toBe(200);
    const metadata = response.json();
    expect(metadata.issuer).toBe(UPSTREAM);
    expect(metadata.jwks_uri).toBe(`${UPSTREAM}/.well-known/jwks.json`);
  });
});

describe('call chaining: GET /chain/notes (§Call Chaining)', () => {
  it('calls the downstream resource with a directed sub of its own (§Directed Identifiers Across a Chain)', async () => {
    const caller = newCaller();
    const downstreamSub = s.ps.directedSub('alice', DOWNSTREAM);
    await seedDownstreamNote(downstreamSub, 'from the downstream notebook');

    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.downstream).toBe(DOWNSTREAM);
    expect(body.result.notes.map((note: { text: string }) => note.text)).toEqual([
      'from the downstream notebook',
    ]);

    // The PS was asked for a person token for downstream, then for an auth token, each with upstream_token.
    const [personCall, tokenCall] = s.ps.calls;
    expect(personCall?.path).toBe('/person');
    expect(personCall?.body).toMatchObject({ resource: DOWNSTREAM, upstream_token: caller.authToken });
    expect(tokenCall?.path).toBe('/token');
    expect(tokenCall?.body?.upstream_token).toBe(caller.authToken);
    const resourceToken = payloadOf(String(tokenCall?.body?.resource_token));
    expect(resourceToken.iss).toBe(DOWNSTREAM);
    expect(resourceToken.aud).toBe(PS);
    expect(resourceToken.sub).toBe(downstreamSub);

    // The downstream auth token the resource used: its own directed sub, never the upstream one.
    const records = await s.downstream.prisma.authTokenRecord.findMany();
    expect(records).toHaveLength(1);
    expect(records[0]!.sub).toBe(downstreamSub);
    expect(records[0]!.sub).not.toBe(caller.sub);
  });

  it('signs with its own agent token: iss = its identifier, which §Upstream Token Verification step 3 compares with the upstream aud', async () => {
    const caller = newCaller();
    expect((await call(caller, caller.authToken)).statusCode).toBe(200);
    const signer = s.ps.calls[0]!;
    expect(signer.agentToken.iss).toBe(UPSTREAM);
    expect(signer.agentToken.iss).toBe(payloadOf(caller.authToken).aud);
    expect(signer.agentToken.sub).toBe('aauth:notes-chain@localhost:3003');
    expect(signer.agentToken.ps).toBeUndefined();
    expect(signer.agentToken.exp - signer.agentToken.iat).toBeLessThanOrEqual(24 * 3600);
    // Verified by a party that discovers keys from {iss}/.well-known/aauth-agent.json (the stub PS did too).
    const verified = await s.verifier.verify(signer.rawAgentToken, { kinds: ['agent'] });
    expect(verified.header.typ).toBe('aa-agent+jwt');
    expect(verified.claims.dwk).toBe(DWK.agent);
    // cnf is the key that signed the request to the PS, and the one the downstream auth token binds.
    const records = await s.downstream.prisma.authTokenRecord.findMany();
    expect(records[0]!.cnfJkt).toBe(s.upstream.keys.active.thumbprint);
  });

  it('is not served by an instance without DOWNSTREAM_RESOURCE (404), which still publishes its agent metadata', async () => {
    const response = await s.downstream.app.inject({
      method: 'GET',
      url: '/chain/notes',
      headers: { host: 'localhost:3004' },
    });
    expect(response.statusCode).toBe(404);
    const metadata = await s.downstream.app.inject({
      method: 'GET',
      url: `/.well-known/${DWK.agent}`,
      headers: { host: 'localhost:3004' },
    });
    expect(metadata.json().issuer).toBe(DOWNSTREAM);
  });

  it('re-mints its agent token before it expires', async () => {
    const caller = newCaller({ lifetimeSeconds: 3600 });
    expect((await call(caller, caller.authToken)).statusCode).toBe(200);
    const first = s.ps.calls[0]!.agentToken;
    s.clock.advance((first.exp - first.iat - 30) * 1000);
    const again = newCaller();
    expect((await call(again, again.authToken)).statusCode).toBe(200);
    const later = s.ps.calls.at(-1)!.agentToken;
    expect(later.jti).not.toBe(first.jti);
    expect(later.exp).toBeGreaterThan(first.exp);
  });

  it('refuses a request without an upstream auth token: 401 requirement=person-token, nothing sent to the PS (§Auth Token Required)', async () => {
    const caller = newCaller();
    const withAgentToken = await call(caller, caller.agentToken);
    expect(withAgentToken.statusCode).toBe(401);
    expect(withAgentToken.headers['aauth-requirement']).toBe('requirement=person-token');

    const unsigned = await s.upstream.app.inject({
      method: 'GET',
      url: '/chain/notes',
      headers: { host: 'localhost:3003' },
    });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(s.ps.calls).toHaveLength(0);
  });

  it('refuses an expired upstream auth token with 401 Signature-Error expired_jwt (§Auth Token Verification)', async () => {
    const caller = newCaller({ lifetimeSeconds: 120 });
    s.clock.advance(10 * 60 * 1000);
    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toContain('expired_jwt');
    expect(s.ps.calls).toHaveLength(0);
  });

  it('refuses an upstream auth token for another resource with 401 Signature-Error invalid_jwt (§Auth Token Verification)', async () => {
    const caller = newCaller({ aud: DOWNSTREAM });
    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toContain('invalid_jwt');
    expect(s.ps.calls).toHaveLength(0);
  });
});

describe('interaction chaining (§Interaction Chaining)', () => {
  it('passes requirement=interaction up with its own code and pending URL, relays the person to the PS, and completes on the caller’s polls across a restart', async () => {
    s.ps.mode = 'interaction';
    const caller = newCaller();
    const downstreamSub = s.ps.directedSub('alice', DOWNSTREAM);
    await seedDownstreamNote(downstreamSub, 'needs the person first');
    const capabilities = { 'aauth-capabilities': 'interaction' };

    const first = await call(caller, caller.authToken, '/chain/notes', capabilities);
    expect(first.statusCode).toBe(202);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers['retry-after']).toBeDefined();
    const location = new URL(String(first.headers.location));
    expect(location.origin).toBe(UPSTREAM);
    expect(location.pathname).toMatch(/^\/chain\/pending\//);
    const requirement = requirementOf(first);
    expect(requirement?.requirement).toBe('interaction');
    if (requirement?.requirement !== 'interaction') throw new Error('unreachable');
    // Its own interaction code and URL, not the PS's.
    expect(requirement.url).toBe(`${UPSTREAM}/chain/interaction`);
    const psCode = [...s.ps.pending.values()][0]!.code;
    expect(requirement.code).not.toBe(psCode);
    // The caller's capability was forwarded, so the PS could ask for the person.
    expect(s.ps.calls[0]!.body?.capabilities).toEqual(['interaction']);

    // The person follows the resource's URL and lands on the PS's interaction page with the PS's code.
    const relay = await s.upstream.app.inject({
      method: 'GET',
      url: `/chain/interaction?code=${encodeURIComponent(requirement.code)}`,
      headers: { host: 'localhost:3003' },
    });
    expect(relay.statusCode).toBe(303);
    expect(relay.headers.location).toBe(`${PS}/interaction?code=${psCode}`);

    // Not yet approved: the poll stays 202 with the same requirement.
    const waiting = await call(caller, caller.authToken, location.pathname);
    expect(waiting.statusCode).toBe(202);
    expect(requirementOf(waiting)).toEqual(requirement);
    expect(waiting.json().status).toBe('interacting');

    // The person approves the person token; the state survives a restart of the upstream resource.
    s.ps.approve(psCode);
    await s.upstream.restart();
    const second = await call(caller, caller.authToken, location.pathname);
    // The auth-token step needs the person too: a new code of ours for the new PS interaction.
    expect(second.statusCode).toBe(202);
    const secondRequirement = requirementOf(second);
    if (secondRequirement?.requirement !== 'interaction') throw new Error('expected interaction');
    expect(secondRequirement.code).not.toBe(requirement.code);
    const secondPsCode = [...s.ps.pending.values()][0]!.code;
    expect(secondPsCode).not.toBe(psCode);
    // The waiting poll and this one each polled the PS once; then the auth token was requested.
    const psPending = s.ps.calls[1]!.path;
    expect(psPending).toMatch(/^\/pending\//);
    expect(s.ps.calls.map((c) => c.path)).toEqual(['/person', psPending, psPending, '/token']);
    expect(s.ps.calls[3]!.body?.upstream_token).toBe(caller.authToken);

    s.ps.approve(secondPsCode);
    const done = await call(caller, caller.authToken, location.pathname);
    expect(done.statusCode).toBe(200);
    expect(done.json().result.notes.map((note: { text: string }) => note.text)).toEqual([
      'needs the person first',
    ]);
    const records = await s.downstream.prisma.authTokenRecord.findMany();
    expect(records[0]!.sub).toBe(downstreamSub);

    // Terminal: the pending URL is gone, and the resource's code no longer relays.
    const after = await call(caller, caller.authToken, location.pathname);
    expect(after.statusCode).toBe(410);
    const stale = await s.upstream.app.inject({
      method: 'GET',
      url: `/chain/interaction?code=${encodeURIComponent(secondRequirement.code)}`,
      headers: { host: 'localhost:3003' },
    });
    expect(stale.statusCode).toBe(404);
  });

  it('passes the PS’s 403 denied to the caller and ends the chain: later polls are 410 (§Polling Error Codes)', async () => {
    const caller = newCaller();
    const path = await startInteracting(caller);
    s.ps.deny([...s.ps.pending.values()][0]!.code);
    const denied = await call(caller, caller.authToken, path);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toBe('denied');
    expect(denied.headers['signature-error']).toBeUndefined();
    const after = await call(caller, caller.authToken, path);
    expect(after.statusCode).toBe(410);
  });

  it('answers a poll signed by another key with 404 (§Pending URL Security)', async () => {
    const caller = newCaller();
    const path = await startInteracting(caller);
    const other = newCaller();
    const response = await call(other, other.authToken, path);
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toBe('not_found');
  });

  it('without the interaction capability the PS’s 403 user_unreachable reaches the caller (§AAuth-Capabilities)', async () => {
    s.ps.mode = 'interaction';
    const caller = newCaller();
    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toBe('user_unreachable');
    expect(s.ps.calls[0]!.body?.capabilities).toEqual([]);
  });
});

describe('call chaining: refusals are answers, never 500 (§Upstream Token Verification, docs/spec-decisions.md)', () => {
  it('extends an auth token issued by an access server through the PS named in its ps claim (four-party, §Call Chaining)', async () => {
    const caller = newCaller();
    const downstreamSub = s.ps.directedSub('alice', DOWNSTREAM);
    await seedDownstreamNote(downstreamSub, 'four-party downstream note');
    // Four-party: the AS issued the caller's auth token (dwk aauth-access.json), naming the person's PS.
    const authToken = s.as.issue(
      'auth',
      { aud: UPSTREAM, ps: PS, sub: caller.sub, scope: 'notes.read', cnf: { jwk: caller.key.jwk } } as never,
      { clock: s.clock, lifetimeSeconds: 3600 },
    );
    expect(payloadOf(authToken).iss).toBe(AS);
    const response = await call(caller, authToken);
    expect(response.statusCode).toBe(200);
    expect(response.json().result.notes.map((note: { text: string }) => note.text)).toEqual([
      'four-party downstream note',
    ]);
    // Routed by `ps`, the AS's token handed over as upstream_token; the downstream sub is the PS's own.
    expect(s.ps.calls.map((c) => c.path)).toEqual(['/person', '/token']);
    expect(s.ps.calls[0]!.body?.upstream_token).toBe(authToken);
    const records = await s.downstream.prisma.authTokenRecord.findMany();
    expect(records.map((record) => record.sub)).toEqual([downstreamSub]);
  });

  it('answers the PS refusing an access server token it did not broker with 403 forbidden naming the PS error', async () => {
    const caller = newCaller();
    const authToken = s.as.issue(
      'auth',
      { aud: UPSTREAM, ps: PS, sub: caller.sub, scope: 'notes.read', cnf: { jwk: caller.key.jwk } } as never,
      { clock: s.clock, lifetimeSeconds: 3600 },
    );
    s.ps.refusal = {
      status: 400,
      error: 'invalid_request',
      detail: 'The upstream_token was not brokered here.',
    };
    const response = await call(caller, authToken);
    expect(response.statusCode).toBe(403);
    expect(response.headers['signature-error']).toBeUndefined();
    expect(response.json().error).toBe('forbidden');
    expect(response.json().detail).toContain('The upstream_token was not brokered here.');
    expect(s.ps.calls.map((c) => c.path)).toEqual(['/person']);
  });

  it('answers a PS 400 refusal of the person token request with 403 forbidden naming the PS error', async () => {
    s.ps.refusal = {
      status: 400,
      error: 'invalid_request',
      detail: 'The upstream_token was not issued by this person server.',
    };
    const caller = newCaller();
    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(403);
    expect(response.headers['signature-error']).toBeUndefined();
    const body = response.json();
    expect(body.error).toBe('forbidden');
    expect(body.detail).toContain('invalid_request');
    expect(body.detail).toContain('The upstream_token was not issued by this person server.');
    expect(s.ps.calls.map((c) => c.path)).toEqual(['/person']);
  });

  it('answers a PS 400 refusal on a pending poll with 403 forbidden and ends the chain (later polls 410)', async () => {
    const caller = newCaller();
    const path = await startInteracting(caller);
    s.ps.refusal = { status: 400, error: 'invalid_request', detail: 'no longer extendable' };
    const refused = await call(caller, caller.authToken, path);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toBe('forbidden');
    expect(refused.json().detail).toContain('invalid_request');
    const after = await call(caller, caller.authToken, path);
    expect(after.statusCode).toBe(410);
    expect(after.json().error).toBe('gone');
  });

  it('answers a PS 5xx with 503 temporarily_unavailable and Retry-After', async () => {
    s.ps.refusal = { status: 500, error: 'server_error', detail: 'boom' };
    const caller = newCaller();
    const response = await call(caller, caller.authToken);
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBeDefined();
    expect(response.json().error).toBe('temporarily_unavailable');
  });
});

describe('call chaining: a malformed PS answer is 503, never 500 (docs/spec-decisions.md)', () => {
  /** Signs with a key the PS's JWKS does not hold: its tokens look right and do not verify. */
  const forger = createTestIssuer({ dwk: DWK.person, issuer: PS });

  function withBody(answer: RoutedResponse, body: string): RoutedResponse {
    return { ...answer, body: Buffer.from(body) };
  }

  const MALFORMED: ReadonlyArray<{
    readonly shape: string;
    readonly rewrite: (call: PsCall, answer: RoutedResponse) => RoutedResponse;
    readonly detail: string;
  }> = [
    {
      shape: 'a 200 whose body is not JSON',
      rewrite: (_call, answer) => withBody(answer, '<html><body>Welcome</body></html>'),
      detail: 'The answer is not JSON.',
    },
    {
      shape: 'a JSON object without person_token',
      rewrite: (_call, answer) => withBody(answer, JSON.stringify({ expires_in: 3600 })),
      detail: "The Person Server's answer has no person_token.",
    },
    {
      shape: 'a JSON array',
      rewrite: (_call, answer) => withBody(answer, JSON.stringify([answer.body.toString()])),
      detail: 'The answer is not a JSON object.',
    },
    {
      shape: 'the token response as text/html',
      rewrite: (_call, answer) => ({
        ...answer,
        headers: { ...answer.headers, 'content-type': 'text/html' },
      }),
      detail: 'The answer is text/html, not application/json.',
    },
    {
      shape: 'the token response without a content type',
      rewrite: (_call, { headers: { 'content-type': _type, ...headers }, ...answer }) => ({
        ...answer,
        headers,
      }),
      detail: 'The answer is untyped, not application/json.',
    },
    {
      shape: 'an oversized token response',
      rewrite: (_call, answer) =>
        withBody(
          answer,
          JSON.stringify({
            ...JSON.parse(answer.body.toString()),
            padding: 'x'.repeat(MAX_TOKEN_ANSWER_BYTES),
          }),
        ),
      detail: `The answer is larger than ${MAX_TOKEN_ANSWER_BYTES} bytes.`,
    },
    {
      shape: 'a person token that does not verify',
      rewrite: (call, answer) => {
        const sub = s.ps.directedSub('alice', DOWNSTREAM);
        const forged = forger.issue('person', { aud: DOWNSTREAM, sub, cnf: call.agentToken.cnf } as never, {
          clock: s.clock,
        });
        return withBody(answer, JSON.stringify({ person_token: forged, expires_in: 3600 }));
      },
      detail: 'The person token signature did not verify.',
    },
    {
      shape: 'a person token for another resource',
      rewrite: (call, answer) => {
        const token = s.ps.issuer.issue(
          'person',
          { aud: UPSTREAM, sub: s.ps.directedSub('alice', UPSTREAM), cnf: call.agentToken.cnf } as never,
          { clock: s.clock },
        );
        return withBody(answer, JSON.stringify({ person_token: token, expires_in: 3600 }));
      },
      detail: 'The person token aud is not the resource asked for.',
    },
  ];

  async function expectUnusableAnswer(response: LightMyRequestResponse, detail: string): Promise<void> {
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.headers['retry-after']).toBe('5');
    expect(response.headers['signature-error']).toBeUndefined();
    expect(response.headers['aauth-requirement']).toBeUndefined();
    expect(response.json()).toEqual({
      status: 503,
      error: 'temporarily_unavailable',
      detail: `The person server's answer could not be used: ${detail}`,
    });
    // The downstream resource issued and recorded nothing.
    expect(await s.downstream.prisma.authTokenRecord.count()).toBe(0);
  }

  for (const { shape, rewrite, detail } of MALFORMED) {
    it(`answers ${shape} from the person token endpoint with 503 temporarily_unavailable; nothing stored, downstream not called`, async () => {
      s.ps.rewrite = (call, answer) => (call.path === '/person' ? rewrite(call, answer) : answer);
      const caller = newCaller();
      await expectUnusableAnswer(await call(caller, caller.authToken), detail);
      expect(s.ps.calls.map((c) => c.path)).toEqual(['/person']);
      expect(await s.upstream.prisma.chainedRequest.count()).toBe(0);
      expect(await s.downstream.prisma.personTokenRecord.count()).toBe(0);
    });
  }

  it('answers an auth token that does not verify with 503; the downstream resource is not called with it', async () => {
    s.ps.rewrite = (call, answer) => {
      if (call.path !== '/token') return answer;
      const resourceToken = payloadOf(String(call.body?.resource_token));
      const forged = forger.issue(
        'auth',
        {
          aud: DOWNSTREAM,
          ps: PS,
          sub: resourceToken.sub,
          scope: resourceToken.scope,
          cnf: call.agentToken.cnf,
        } as never,
        { clock: s.clock },
      );
      return withBody(answer, JSON.stringify({ auth_token: forged, expires_in: 3600 }));
    };
    const caller = newCaller();
    await expectUnusableAnswer(
      await call(caller, caller.authToken),
      'The auth token signature did not verify.',
    );
    expect(s.ps.calls.map((c) => c.path)).toEqual(['/person', '/token']);
    expect(await s.upstream.prisma.chainedRequest.count()).toBe(0);
  });

  it('answers a malformed PS poll result with 503 and leaves the stored chain as it was, so the poll can be retried', async () => {
    const caller = newCaller();
    const path = await startInteracting(caller);
    const before = await s.upstream.prisma.chainedRequest.findMany();
    expect(before).toHaveLength(1);
    s.ps.approve([...s.ps.pending.values()][0]!.code);
    s.ps.rewrite = (call, answer) =>
      call.path.startsWith('/pending/') ? withBody(answer, 'person_token=eyJ') : answer;

    await expectUnusableAnswer(await call(caller, caller.authToken, path), 'The answer is not JSON.');
    expect(await s.upstream.prisma.chainedRequest.findMany()).toEqual(before);
    expect(await s.downstream.prisma.personTokenRecord.count()).toBe(0);
  });
});
