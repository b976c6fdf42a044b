import type { StubR3Resource } from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readPolicyDocument } from '../src/admin/queries.js';
import { evaluatePolicy, PolicyDocumentError, parsePolicyDocument } from '../src/services/policy.js';
import { storePolicyDocument } from '../src/stores/prisma-policies.js';
import {
  AS_ISSUER,
  decodePayload,
  makeRequestTokens,
  RESOURCE,
  type RequestTokensOptions,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { TEST_POLICY } from './support/policy.js';
import { createStubR3ResourceFor, MCP, R3_TEST_POLICY as POLICY } from './support/r3.js';

/**
 * The AS as the four-party issuer of R3 auth tokens (draft-hardt-aauth-r3 §AS Processing steps 1–6,
 * §Hash Verification, §Audit Log Integrity, §Auth Token Extensions, §Per-Call Proposals), against a
 * stub resource that serves documents only to requests signed by this AS (`jwks_uri`).
 */

let t: TestApp;
let resource: StubR3Resource;
beforeAll(async () => {
  t = await startTestApp({ policy: POLICY, r3Fetch: (url, request) => resource.fetch(url, request) });
});
beforeEach(() => {
  resource = createStubR3ResourceFor(t);
});
afterAll(async () => {
  await t?.close();
});

let seq = 0;
/** A document this AS has not seen (verified documents are answered from the hash cache). */
function publish(operations: readonly Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  seq += 1;
  return resource.publish({
    vocabulary: MCP,
    operations,
    display: { summary: `Notes access ${seq}` },
    ...extra,
  });
}

function request(r3: { r3_uri: string; r3_s256: string }, options: RequestTokensOptions = {}) {
  const tokens = makeRequestTokens(t, { ...options, claims: { ...r3, ...options.claims } });
  t.clock.advance(100);
  return {
    tokens,
    response: sendAsPs(t, { method: 'POST', path: '/token', body: tokens.body }),
  };
}

async function counts() {
  return {
    tokens: await t.prisma.issuedAuthToken.count(),
    audit: await t.prisma.r3AuditRecord.count(),
    pending: await t.prisma.pendingRequest.count(),
  };
}

describe('R3 at the AS (§AS Processing)', () => {
  it('fetches signed, evaluates operations, emits r3 claims and audits atomically (steps 2–6)', async () => {
    const r3 = publish([{ tool: 'list_notes' }, { tool: 'delete_note' }, { tool: 'create_note' }]);
    const { tokens, response } = request(r3);
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(resource.requests).toEqual([r3.r3_uri]);
    const claims = decodePayload(res.json().auth_token);
    expect(claims).toMatchObject({
      iss: AS_ISSUER,
      dwk: 'aauth-access.json',
      aud: RESOURCE,
      sub: tokens.sub,
    });
    expect(claims.scope).toBeUndefined();
    expect({
      r3_uri: claims.r3_uri,
      r3_s256: claims.r3_s256,
      r3_granted: claims.r3_granted,
      r3_per_call: claims.r3_per_call,
    }).toEqual({
      r3_uri: r3.r3_uri,
      r3_s256: r3.r3_s256,
      // create_note falls back to omit: the grant is narrowed (§Auth Token Extensions).
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
      r3_per_call: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    // Step 4: r3_uri, r3_s256, the time, ps and sub, agent_jkt, and the agent identifier.
    const audit = await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } });
    expect(audit).toMatchObject({
      r3Uri: r3.r3_uri,
      r3S256: r3.r3_s256,
      ps: 'https://ps.example',
      sub: tokens.sub,
      agentJkt: tokens.agentKey.thumbprint,
      agentIss: t.parties.ap.issuer,
      agentSub: tokens.agentSub,
      subagentSub: null,
      proposal: false,
      r3Granted: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
      r3PerCall: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    expect(audit?.issuedAt.getTime()).toBe(Number(claims.iat) * 1000);
    // Step 2: "MAY use a cached copy if the cache entry was stored with the same r3_s256".
    const again = await request(r3).response;
    expect(again.statusCode).toBe(200);
    expect(resource.requests).toHaveLength(1);
  });

  it('a per-call proposal: its operation in r3_granted, no r3_per_call (§Per-Call Proposals step 2)', async () => {
    const r3 = publish([{ tool: 'delete_note' }], { parameters: { id: 'n-1' } });
    const res = await request(r3).response;
    expect(res.statusCode).toBe(200);
    const claims = decodePayload(res.json().auth_token);
    expect(claims.r3_granted).toEqual({ vocabulary: MCP, operations: [{ tool: 'delete_note' }] });
    expect(claims).not.toHaveProperty('r3_per_call');
    const audit = await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } });
    expect(audit?.proposal).toBe(true);
  });

  it('records the sub-agent and its key for a parent-mediated request', async () => {
    const r3 = publish([{ tool: 'list_notes' }]);
    const { tokens, response } = request(r3, { subagent: true });
    const res = await response;
    expect(res.statusCode).toBe(200);
    const claims = decodePayload(res.json().auth_token);
    const audit = await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } });
    expect(audit).toMatchObject({
      agentSub: tokens.agentSub,
      subagentSub: tokens.agentSub.replace('@', '+worker1@'),
      agentJkt: tokens.subagentKey!.thumbprint,
    });
  });

  it('denies a denied operation, or a document granting nothing: 403 denied, no token, no audit entry', async () => {
    const before = await counts();
    for (const operations of [[{ tool: 'list_notes' }, { tool: 'drop_all' }], [{ tool: 'create_note' }]]) {
      const res = await request(publish(operations)).response;
      expect([res.statusCode, res.json().error]).toEqual([403, 'denied']);
    }
    expect(await counts()).toEqual(before);
  });

  it('enforces scope and R3 independently (§Resource Token Extensions)', async () => {
    const r3 = publish([{ tool: 'list_notes' }]);
    const ok = await request(r3, { scope: 'read' }).response;
    expect(ok.statusCode).toBe(200);
    const claims = decodePayload(ok.json().auth_token);
    expect(claims.scope).toBe('read');
    expect(claims.r3_granted).toEqual({ vocabulary: MCP, operations: [{ tool: 'list_notes' }] });
    const refused = await request(r3, { scope: 'admin' }).response;
    expect([refused.statusCode, refused.json().error]).toEqual([403, 'denied']);
  });

  it('a resource without r3 rules: decided by its scope rules, issued without R3 claims or audit entry', async () => {
    await storePolicyDocument(t.prisma, TEST_POLICY);
    try {
      const before = await counts();
      const r3 = publish([{ tool: 'list_notes' }, { tool: 'delete_note' }]);
      const ok = await request(r3, { scope: 'read' }).response;
      expect(ok.statusCode).toBe(200);
      // The document is still fetched and verified (steps 2–3); the scope policy decides.
      expect(resource.requests).toEqual([r3.r3_uri]);
      const claims = decodePayload(ok.json().auth_token);
      expect(claims.scope).toBe('read');
      for (const name of ['r3_uri', 'r3_s256', 'r3_granted', 'r3_per_call']) {
        expect(claims[name]).toBeUndefined();
      }
      expect(await counts()).toEqual({ ...before, tokens: before.tokens + 1 });
      // What the scope rules refuse stays refused; without scope there is nothing to grant.
      for (const scope of ['admin', undefined]) {
        const refused = await request(r3, scope === undefined ? {} : { scope }).response;
        expect([refused.statusCode, refused.json().error]).toEqual([403, 'denied']);
      }
    } finally {
      await storePolicyDocument(t.prisma, POLICY);
    }
  });

  it('decides a deferred request on the document fetched at the start (§Claims Required, step 2 cache)', async () => {
    const r3 = publish([{ tool: 'list_notes' }, { tool: 'delete_note' }]);
    const { tokens, response } = request(r3, { scope: 'billing' });
    const res = await response;
    expect(res.statusCode).toBe(202);
    expect(res.headers['aauth-requirement']).toBe('requirement=claims');
    const path = new URL(String(res.headers.location)).pathname;
    // The resource now serves something else at the URI: the pending request is not re-fetched.
    resource.replace(r3.r3_uri, '{}');
    const posted = await sendAsPs(t, {
      method: 'POST',
      path,
      body: { sub: tokens.sub, email: 'ann@example.com' },
    });
    expect(posted.statusCode).toBe(202);
    const polled = await sendAsPs(t, { method: 'GET', path });
    expect(polled.statusCode).toBe(200);
    const claims = decodePayload(polled.json().auth_token);
    expect(claims.scope).toBe('billing');
    expect([claims.r3_s256, claims.r3_granted, claims.r3_per_call]).toEqual([
      r3.r3_s256,
      { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
      { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    ]);
    expect(resource.requests).toEqual([r3.r3_uri]);
    expect(await t.prisma.r3AuditRecord.count({ where: { jti: String(claims.jti) } })).toBe(1);
  });

  it('rejects the resource token when the document does not hash to r3_s256; nothing stored (§Hash Verification)', async () => {
    const r3 = publish([{ tool: 'list_notes' }]);
    resource.replace(r3.r3_uri, JSON.stringify({ vocabulary: MCP, operations: [{ tool: 'drop_all' }] }));
    const before = await counts();
    const res = await request(r3).response;
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().error).toBe('invalid_resource_token');
    expect(await counts()).toEqual(before);
  });

  it('maps a document it cannot get: unreachable → 503 temporarily_unavailable, refused → 400 invalid_resource_token', async () => {
    const before = await counts();
    const cases: [StubR3Resource['failure'], number, string][] = [
      ['unreachable', 503, 'temporarily_unavailable'],
      ['forbidden', 400, 'invalid_resource_token'],
      ['egress', 400, 'invalid_resource_token'],
    ];
    for (const [failure, status, error] of cases) {
      resource.failure = failure;
      const res = await request(publish([{ tool: 'list_notes' }])).response;
      expect([failure, res.statusCode, res.json().error]).toEqual([failure, status, error]);
    }
    resource.failure = 'none';
    const offOrigin = await request({
      ...publish([{ tool: 'list_notes' }]),
      r3_uri: 'https://evil.example/r3/x',
    }).response;
    expect([offOrigin.statusCode, offOrigin.json().error]).toEqual([400, 'invalid_resource_token']);
    expect(await counts()).toEqual(before);
  });
});

describe('R3 policy documents (aauth-as-admin policy load)', () => {
  it('accepts r3 rules, refuses unknown effects and members, and stores them for policy show', async () => {
    expect(() =>
      parsePolicyDocument(
        {
          resources: {
            [RESOURCE]: { rules: [], r3: { operations: [{ match: { tool: 'x' }, effect: 'allow' }] } },
          },
        },
        t.config.identifierPolicy,
      ),
    ).toThrow(PolicyDocumentError);
    expect(() =>
      parsePolicyDocument(
        { resources: { [RESOURCE]: { rules: [], r3: { operations: [], extra: true } } } },
        t.config.identifierPolicy,
      ),
    ).toThrow(PolicyDocumentError);
    // A resource whose policy has no r3 rules: the scope rules decide, no R3 grant (README *R3 operations*).
    const noR3 = {
      resource: RESOURCE,
      fallback: 'omit' as const,
      rules: [{ scopes: ['*'], effect: 'grant' as const }],
    };
    const input = {
      ps: 'https://ps.example',
      psTrusted: true,
      agent: {},
      subagent: false,
      r3: { vocabulary: MCP, operations: [{ tool: 'list_notes' }], proposal: false },
    };
    expect(evaluatePolicy(noR3, { ...input, scope: 'read' })).toEqual({ kind: 'grant', scope: 'read' });
    expect(evaluatePolicy(noR3, input)).toEqual({
      kind: 'deny',
      reason: 'This access server has no R3 policy for the resource, and the request names no scope.',
    });
    // With r3 rules, a document of which nothing is granted is denied.
    expect(evaluatePolicy({ ...noR3, r3: { operations: [] } }, input)).toEqual({
      kind: 'deny',
      reason: 'The resource policy grants none of the requested operations.',
    });
    const shown = await readPolicyDocument(t.prisma);
    expect(shown.resources[RESOURCE]?.r3).toEqual(POLICY.resources[RESOURCE].r3);
  });
});
