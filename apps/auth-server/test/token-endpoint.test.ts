import { createLocalKeyResolver, createTokenVerifier, DWK } from '@aauth-ref/core';
import { makeKeyPair, signedInject } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAccessServerMetadata } from '../src/metadata.js';
import {
  AS_ISSUER,
  decodePayload,
  ISSUERLESS_PS,
  MISMATCHED_PS,
  makeRequestTokens,
  RESOURCE,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { TEST_POLICY } from './support/policy.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ policy: TEST_POLICY });
});
afterAll(async () => {
  await t?.close();
});

const requestToken = (body: unknown, ps = t.parties.ps) =>
  sendAsPs(t, { method: 'POST', path: '/token', body: body as Record<string, unknown>, ps });

function expectProblem(
  res: { statusCode: number; json(): unknown; headers: Record<string, unknown> },
  status: number,
  error: string,
) {
  expect(res.statusCode).toBe(status);
  expect((res.json() as { error: string }).error).toBe(error);
  if (status !== 401) {
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.headers['accept-signature-scheme']).toBeUndefined();
  }
}

describe('grant (§AS Response: direct grant, §Auth Token Structure)', () => {
  it('issues an auth token for a trusted PS: iss, dwk, aud, ps, sub, cnf, scope; recorded', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken(tokens.body);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json() as { auth_token: string; expires_in: number };
    expect(body.expires_in).toBe(3600);
    // The token verifies against the AS's published keys as an aa-auth+jwt for the resource.
    const verifier = createTokenVerifier({
      clock: t.clock,
      keys: createLocalKeyResolver([
        {
          issuer: AS_ISSUER,
          dwk: DWK.access,
          keys: t.keys.published,
          metadata: buildAccessServerMetadata(AS_ISSUER),
        },
      ]),
      identifierPolicy: t.config.identifierPolicy,
    });
    const verified = await verifier.verify(body.auth_token, { kinds: ['auth'], audience: RESOURCE });
    expect(verified.header.typ).toBe('aa-auth+jwt');
    expect(verified.claims).toMatchObject({
      iss: AS_ISSUER,
      dwk: 'aauth-access.json',
      aud: RESOURCE,
      ps: 'https://ps.example',
      sub: tokens.sub,
      scope: 'read',
    });
    expect(verified.cnfKey.thumbprint).toBe(tokens.agentKey.thumbprint);
    expect(verified.claims.exp - verified.claims.iat).toBe(3600);
    const row = await t.prisma.issuedAuthToken.findUnique({ where: { jti: verified.claims.jti } });
    expect(row).toMatchObject({
      aud: RESOURCE,
      ps: 'https://ps.example',
      sub: tokens.sub,
      scope: 'read',
      agentIss: 'https://agent.example',
      agentSub: tokens.agentSub,
      cnfJkt: tokens.agentKey.thumbprint,
      subagentSub: null,
    });
  });

  it('narrows the scope to what the policy grants (write needs tenant acme)', async () => {
    const res = await requestToken(makeRequestTokens(t, { scope: 'read write' }).body);
    expect(res.statusCode).toBe(200);
    expect(decodePayload(res.json().auth_token).scope).toBe('read');
  });

  it('copies tenant, account and mission_s256 from the resource token', async () => {
    const mission = 'a'.repeat(43);
    const res = await requestToken(
      makeRequestTokens(t, { scope: 'write read', tenant: 'acme', account: 'acct-1', mission_s256: mission })
        .body,
    );
    expect(res.statusCode).toBe(200);
    expect(decodePayload(res.json().auth_token)).toMatchObject({
      scope: 'write read',
      tenant: 'acme',
      account: 'acct-1',
      mission_s256: mission,
    });
  });

  it('applies conditions on agent token claims', async () => {
    const granted = await requestToken(
      makeRequestTokens(t, { scope: 'deploy', agentClaims: { attested: true } }).body,
    );
    expect(granted.statusCode).toBe(200);
    const refused = await requestToken(makeRequestTokens(t, { scope: 'deploy' }).body);
    expectProblem(refused, 403, 'denied');
  });

  it('an untrusted PS gets nothing for a trust-only scope (403 denied)', async () => {
    const res = await requestToken(
      makeRequestTokens(t, { scope: 'read', ps: 'https://other-ps.example' }).body,
      t.parties.otherPs,
    );
    expectProblem(res, 403, 'denied');
  });
});

describe('deny (§AS Decision Logic: insufficient trust → 403)', () => {
  it('a denied scope refuses the whole request', async () => {
    expectProblem(await requestToken(makeRequestTokens(t, { scope: 'read admin' }).body), 403, 'denied');
  });

  it('no granted scope at all is 403', async () => {
    expectProblem(await requestToken(makeRequestTokens(t, { scope: 'write' }).body), 403, 'denied');
  });

  it('a resource without a policy here is 403', async () => {
    const res = await requestToken(
      makeRequestTokens(t, { scope: 'read', resource: t.parties.unknownResource }).body,
    );
    expectProblem(res, 403, 'denied');
  });
});

describe('resource token verification (§Resource Token Verification, AS rules)', () => {
  it('ps other than the calling PS is 400 invalid_resource_token (step 6: ps names the PS that sent the request)', async () => {
    const res = await requestToken(
      makeRequestTokens(t, { scope: 'read', ps: 'https://other-ps.example' }).body,
    );
    expectProblem(res, 400, 'invalid_resource_token');
  });

  it('aud other than this AS is 400 invalid_resource_token (step 4)', async () => {
    const res = await requestToken(makeRequestTokens(t, { scope: 'read', aud: 'https://ps.example' }).body);
    expectProblem(res, 400, 'invalid_resource_token');
  });

  it('agent_jkt not the agent key is 400 invalid_resource_token (step 5)', async () => {
    const res = await requestToken(
      makeRequestTokens(t, { scope: 'read', agentJkt: makeKeyPair().thumbprint }).body,
    );
    expectProblem(res, 400, 'invalid_resource_token');
  });

  it('an expired resource token is 400 expired_resource_token (step 3)', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    t.clock.advance(301_000);
    const res = await requestToken(tokens.body);
    expectProblem(res, 400, 'expired_resource_token');
  });

  it('a resource token signed by an unpublished key is 400 invalid_resource_token (step 2)', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const forged = t.parties.resource.issue('resource', decodePayload(tokens.body.resource_token!) as never, {
      clock: t.clock,
      signer: makeKeyPair(),
    });
    expectProblem(
      await requestToken({ ...tokens.body, resource_token: forged }),
      400,
      'invalid_resource_token',
    );
  });

  it('an agent token in the resource_token member is 400 invalid_resource_token (step 1: typ)', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({ ...tokens.body, resource_token: tokens.body.agent_token });
    expectProblem(res, 400, 'invalid_resource_token');
  });
});

describe('agent and sub-agent tokens (§Agent Token Verification without step 5, §Parent-Mediated Authorization)', () => {
  it('an expired agent token is 400 expired_agent_token', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', agentLifetimeSeconds: 60 });
    t.clock.advance(61_000);
    // A fresh resource token so only the agent token is stale.
    const fresh = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({
      ...fresh.body,
      agent_token: tokens.body.agent_token,
      resource_token: t.parties.resource.issue(
        'resource',
        {
          ...(decodePayload(fresh.body.resource_token!) as object),
          agent_jkt: tokens.agentKey.thumbprint,
          iat: undefined,
          exp: undefined,
          jti: undefined,
        } as never,
        { clock: t.clock },
      ),
    });
    expectProblem(res, 400, 'expired_agent_token');
  });

  it('a malformed agent token is 400 invalid_agent_token', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    expectProblem(
      await requestToken({ ...tokens.body, agent_token: 'not.a.jwt' }),
      400,
      'invalid_agent_token',
    );
  });

  it('an agent_token carrying parent_agent is 400 invalid_agent_token', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', subagent: true });
    const res = await requestToken({
      resource_token: tokens.body.resource_token,
      agent_token: tokens.body.subagent_token,
    });
    expectProblem(res, 400, 'invalid_agent_token');
  });

  it('a parent-mediated request binds the auth token to the sub-agent key and records both', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', subagent: true });
    const res = await requestToken(tokens.body);
    expect(res.statusCode).toBe(200);
    const claims = decodePayload(res.json().auth_token) as { cnf: { jwk: { x: string } }; jti: string };
    expect(claims.cnf.jwk.x).toBe(tokens.subagentKey!.jwk.x);
    const row = await t.prisma.issuedAuthToken.findUnique({ where: { jti: claims.jti } });
    expect(row?.agentSub).toBe(tokens.agentSub);
    expect(row?.subagentSub).toBe(tokens.agentSub.replace('@', '+worker1@'));
    expect(row?.cnfJkt).toBe(tokens.subagentKey!.thumbprint);
  });

  it('policy sees a parent-mediated request (delete is refused to sub-agents, granted to the parent)', async () => {
    expectProblem(
      await requestToken(makeRequestTokens(t, { scope: 'delete', subagent: true }).body),
      403,
      'denied',
    );
    expect((await requestToken(makeRequestTokens(t, { scope: 'delete' }).body)).statusCode).toBe(200);
  });

  it('subagent_token whose parent_agent is not agent_token.sub is 400 invalid_agent_token', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', subagent: true });
    const other = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({ ...tokens.body, agent_token: other.body.agent_token });
    expectProblem(res, 400, 'invalid_agent_token');
  });

  it('with a subagent_token, agent_jkt must be the sub-agent key, not the parent key', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', subagent: true });
    const parentBound = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({
      ...tokens.body,
      resource_token: t.parties.resource.issue(
        'resource',
        {
          ...(decodePayload(parentBound.body.resource_token!) as object),
          agent_jkt: tokens.agentKey.thumbprint,
          iat: undefined,
          exp: undefined,
          jti: undefined,
        } as never,
        { clock: t.clock },
      ),
    });
    expectProblem(res, 400, 'invalid_resource_token');
  });

  it('an agent token revoked here is 400 invalid_agent_token', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const agent = decodePayload(tokens.body.agent_token!) as { iss: string; jti: string };
    await t.prisma.revocation.create({ data: { iss: agent.iss, jti: agent.jti } });
    expectProblem(await requestToken(tokens.body), 400, 'invalid_agent_token');
  });
});

describe('request body (§PS-to-AS Token Request)', () => {
  it('missing resource_token or agent_token is 400 invalid_request', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    expectProblem(await requestToken({ agent_token: tokens.body.agent_token }), 400, 'invalid_request');
    expectProblem(await requestToken({ resource_token: tokens.body.resource_token }), 400, 'invalid_request');
  });

  it('a body that is not a JSON object is 400 invalid_request', async () => {
    expectProblem(await requestToken(['x']), 400, 'invalid_request');
  });

  /** An upstream auth token (call chaining): issued to the intermediary, whose agent token `iss` is `aud`. */
  function upstreamToken(issuer = t.parties.ps, aud = t.parties.ap.issuer) {
    return issuer.issue(
      'auth',
      {
        aud,
        ps: t.parties.ps.issuer,
        sub: 'upstream-sub',
        cnf: { jwk: makeKeyPair().jwk },
        scope: 'read',
      } as never,
      { clock: t.clock, lifetimeSeconds: 600 },
    );
  }

  it('§Upstream Token Verification: an upstream_token from the calling PS with aud = the intermediary is accepted', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({ ...tokens.body, upstream_token: upstreamToken() });
    expect(res.statusCode).toBe(200);
    expect(typeof (res.json() as { auth_token: unknown }).auth_token).toBe('string');
  });

  it('§Upstream Token Verification: aud other than the intermediary agent token iss is 400 invalid_request', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({
      ...tokens.body,
      upstream_token: upstreamToken(t.parties.ps, 'https://elsewhere.example'),
    });
    expectProblem(res, 400, 'invalid_request');
  });

  it('§Upstream Token Verification: an upstream_token from a PS that is not the caller is 400 invalid_request', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await requestToken({ ...tokens.body, upstream_token: upstreamToken(t.parties.otherPs) });
    expectProblem(res, 400, 'invalid_request');
  });

  it('an upstream_token that does not verify is 400 invalid_request', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    expectProblem(await requestToken({ ...tokens.body, upstream_token: 'a.b.c' }), 400, 'invalid_request');
  });
});

describe('signature (Person Servers only, jwks_uri)', () => {
  it('an agent signing with jwt is 401 unsupported_scheme with Accept-Signature-Scheme: jwks_uri', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read' });
    const res = await signedInject(t.app, {
      method: 'POST',
      path: '/token',
      body: tokens.body,
      key: tokens.agentKey,
      signatureKey: tokens.body.agent_token!,
      clock: t.clock,
      issuer: AS_ISSUER,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('unsupported_scheme');
    expect(res.headers['accept-signature-scheme']).toBe('jwks_uri');
  });

  it('an unsigned request is 401 Signature-Error invalid_request', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/token', payload: { a: 1 } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toContain('invalid_request');
  });

  it('jwks_uri with dwk other than aauth-person.json is refused (401)', async () => {
    const ps = t.parties.ps;
    const res = await signedInject(t.app, {
      method: 'POST',
      path: '/token',
      body: makeRequestTokens(t, { scope: 'read' }).body,
      key: ps.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: ps.issuer, dwk: DWK.agent, kid: ps.signingKey.kid },
      clock: t.clock,
      issuer: AS_ISSUER,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBeDefined();
  });

  it('PS metadata naming another issuer is 401 issuer_mismatch; without issuer 401 issuer_missing', async () => {
    const key = makeKeyPair();
    for (const [id, code] of [
      [MISMATCHED_PS, 'issuer_mismatch'],
      [ISSUERLESS_PS, 'issuer_missing'],
    ] as const) {
      const res = await sendAsPs(t, {
        method: 'POST',
        path: '/token',
        body: makeRequestTokens(t, { scope: 'read' }).body,
        ps: { issuer: id, signingKey: key },
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers['signature-error']).toContain(code);
    }
  });

  it('a replayed token request is 401 invalid_signature (§Freshness and Replay)', async () => {
    const { buildSignedRequest, injectBuilt } = await import('@aauth-ref/testkit');
    const ps = t.parties.ps;
    const built = buildSignedRequest({
      method: 'POST',
      path: '/token',
      body: makeRequestTokens(t, { scope: 'read' }).body,
      key: ps.signingKey,
      signatureKey: { scheme: 'jwks_uri', id: ps.issuer, dwk: DWK.person, kid: ps.signingKey.kid },
      clock: t.clock,
      issuer: AS_ISSUER,
    });
    expect((await injectBuilt(t.app, built)).statusCode).toBe(200);
    const replay = await injectBuilt(t.app, built);
    expect(replay.statusCode).toBe(401);
    expect(replay.headers['signature-error']).toContain('invalid_signature');
  });
});

describe('lifetime caps (§Auth Token Structure: ≤ 1 h, never past the agent token)', () => {
  it('exp is the agent token exp when that comes first', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', agentLifetimeSeconds: 600 });
    const res = await requestToken(tokens.body);
    expect(res.statusCode).toBe(200);
    const claims = decodePayload(res.json().auth_token) as { exp: number; iat: number };
    expect(claims.exp).toBe(tokens.agentExp);
    expect(res.json().expires_in).toBe(claims.exp - claims.iat);
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);
  });

  it('exp is iat + 1 h when the agent token lives longer', async () => {
    const tokens = makeRequestTokens(t, { scope: 'read', agentLifetimeSeconds: 86_400 });
    const claims = decodePayload((await requestToken(tokens.body)).json().auth_token) as {
      exp: number;
      iat: number;
    };
    expect(claims.exp - claims.iat).toBe(3600);
  });
});

describe('revocation (§Token Revocation)', () => {
  async function issue() {
    const res = await requestToken(makeRequestTokens(t, { scope: 'read' }).body);
    return decodePayload(res.json().auth_token) as { iss: string; jti: string };
  }

  it('the PS the token was issued through revokes it: 200, recorded by (iss, jti), idempotent', async () => {
    const token = await issue();
    const res = await sendAsPs(t, {
      method: 'POST',
      path: '/revoke',
      body: { iss: token.iss, jti: token.jti },
    });
    expect(res.statusCode).toBe(200);
    const row = await t.prisma.revocation.findUnique({
      where: { iss_jti: { iss: AS_ISSUER, jti: token.jti } },
    });
    expect(row).not.toBeNull();
    expect(
      (await t.prisma.issuedAuthToken.findUnique({ where: { jti: token.jti } }))?.revokedAt,
    ).not.toBeNull();
    t.clock.advance(1000);
    expect(
      (await sendAsPs(t, { method: 'POST', path: '/revoke', body: { iss: token.iss, jti: token.jti } }))
        .statusCode,
    ).toBe(200);
  });

  it('another PS is 403 forbidden; an unknown pair is 404; a missing member is 400 invalid_request', async () => {
    const token = await issue();
    const other = await sendAsPs(t, {
      method: 'POST',
      path: '/revoke',
      body: { iss: token.iss, jti: token.jti },
      ps: t.parties.otherPs,
    });
    expectProblem(other, 403, 'forbidden');
    expectProblem(
      await sendAsPs(t, {
        method: 'POST',
        path: '/revoke',
        body: { iss: 'https://x.example', jti: token.jti },
      }),
      404,
      'not_found',
    );
    expectProblem(
      await sendAsPs(t, { method: 'POST', path: '/revoke', body: { iss: AS_ISSUER } }),
      400,
      'invalid_request',
    );
  });
});
