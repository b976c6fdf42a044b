import {
  DEV,
  DWK,
  InvalidRequest,
  InvalidResourceToken,
  parseSignatureKey,
  UserUnreachable,
} from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, makeKeyPair } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import { ChainingClient } from './chaining-client.js';

/** The chaining client against a scripted PS and resource (no network). */

const PS = 'https://ps.example';
const RESOURCE = 'https://downstream.example';

interface Sent {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

function setup(answer: (request: Sent) => Response) {
  const clock = createFakeClock();
  const key = makeKeyPair();
  const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://upstream.example' });
  const agentToken = ap.issue(
    'agent',
    { sub: 'aauth:notes-chain@upstream.example', cnf: { jwk: key.jwk } } as never,
    { clock },
  );
  const ps = createTestIssuer({ dwk: DWK.person, issuer: PS });
  const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });
  const sent: Sent[] = [];
  const client = new ChainingClient({
    identity: () => ({ key, agentToken }),
    clock,
    identifierPolicy: DEV,
    fetch: async (url, init) => {
      const headers = { ...(init.headers as Record<string, string> | undefined) };
      const body =
        init.body instanceof Uint8Array ? JSON.parse(Buffer.from(init.body).toString('utf8')) : undefined;
      const request = { url, method: init.method ?? 'GET', headers, body };
      sent.push(request);
      if (url === `${PS}/.well-known/${DWK.person}`) return Response.json(ps.metadata);
      return answer(request);
    },
  });
  return { clock, key, agentToken, ps, resource, sent, client };
}

describe('ChainingClient (§Call Chaining)', () => {
  it('asks the PS for a person token with upstream_token and capabilities, signed with its agent token', async () => {
    const t = setup(() => Response.json({ person_token: 'pt', expires_in: 3600 }));
    const step = await t.client.requestPersonToken(PS, RESOURCE, {
      upstreamToken: 'upstream.jwt.value',
      capabilities: ['interaction'],
    });
    expect(step).toEqual({ kind: 'token', token: 'pt' });
    const request = t.sent.at(-1)!;
    expect(request.url).toBe(String(t.ps.metadata.person_token_endpoint));
    expect(request.method).toBe('POST');
    expect(request.body).toEqual({
      resource: RESOURCE,
      upstream_token: 'upstream.jwt.value',
      capabilities: ['interaction'],
    });
    const member = parseSignatureKey(request.headers['signature-key']!).get('sig');
    expect(member).toEqual({ scheme: 'jwt', jwt: t.agentToken });
    expect(request.headers['content-digest']).toMatch(/^sha-256=:/);
  });

  it('reports a PS 202 as a pending step with its requirement, Location resolved on the PS origin', async () => {
    const t = setup(
      () =>
        new Response(JSON.stringify({ status: 'pending' }), {
          status: 202,
          headers: {
            location: '/pending/abc',
            'retry-after': '3',
            'aauth-requirement': `requirement=interaction; url="${PS}/interaction"; code="A1B2C3D4"`,
          },
        }),
    );
    const step = await t.client.requestAuthToken(PS, 'resource.jwt', { upstreamToken: 'up' });
    expect(step).toEqual({
      kind: 'pending',
      location: `${PS}/pending/abc`,
      retryAfter: 3,
      requirement: { requirement: 'interaction', url: `${PS}/interaction`, code: 'A1B2C3D4' },
      status: 'pending',
    });
    expect(t.sent.at(-1)!.body).toEqual({ resource_token: 'resource.jwt', upstream_token: 'up' });
  });

  it('refuses a 202 whose Location is on another origin (§Pending Response)', async () => {
    const t = setup(
      () => new Response('{}', { status: 202, headers: { location: 'https://elsewhere.example/pending/1' } }),
    );
    await expect(t.client.requestAuthToken(PS, 'rt', { upstreamToken: 'up' })).rejects.toBeInstanceOf(
      InvalidRequest,
    );
  });

  it('surfaces a PS refusal as the typed error (403 user_unreachable)', async () => {
    const t = setup(() =>
      Response.json(
        { error: 'user_unreachable' },
        { status: 403, headers: { 'content-type': 'application/problem+json' } },
      ),
    );
    await expect(t.client.requestPersonToken(PS, RESOURCE, { upstreamToken: 'up' })).rejects.toBeInstanceOf(
      UserUnreachable,
    );
  });

  it('checks the downstream resource token of an auth-token challenge (§Resource Challenge Verification)', async () => {
    let agentJkt = '';
    const t = setup(() => {
      const resourceToken = t.resource.issue(
        'resource',
        {
          aud: PS,
          ps: PS,
          sub: 'directed-downstream',
          presented_jti: 'pt-1',
          agent_jkt: agentJkt,
          scope: 'notes.read',
        } as never,
        { clock: t.clock, lifetimeSeconds: 300 },
      );
      return new Response(null, {
        status: 401,
        headers: { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken}"` },
      });
    });
    agentJkt = t.key.thumbprint;
    const step = await t.client.callResource(`${RESOURCE}/api/notes`, 'person.jwt', {
      ps: PS,
      sub: 'directed-downstream',
    });
    expect(step.kind).toBe('auth-token');
    if (step.kind === 'auth-token') expect(step.claims.sub).toBe('directed-downstream');

    // A resource token bound to another key is refused before anything goes to the PS.
    agentJkt = makeKeyPair().thumbprint;
    await expect(
      t.client.callResource(`${RESOURCE}/api/notes`, 'person.jwt', { ps: PS }),
    ).rejects.toBeInstanceOf(InvalidResourceToken);
  });

  it('refuses PS metadata naming another issuer', async () => {
    const t = setup(() => Response.json({}));
    const other = setup(() => Response.json({}));
    // A metadata document served for PS but naming another issuer.
    const client = new ChainingClient({
      identity: () => ({ key: other.key, agentToken: other.agentToken }),
      clock: other.clock,
      identifierPolicy: DEV,
      fetch: async () => Response.json({ ...t.ps.metadata, issuer: 'https://evil.example' }),
    });
    await expect(client.personServer(PS)).rejects.toBeInstanceOf(InvalidRequest);
  });
});
