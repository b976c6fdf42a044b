import { createLocalKeyResolver, DWK, R3_VOCABULARY } from '@aauth-ref/core';
import { createTestIssuer, type StubR3Resource } from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import { agentProvider, approveMission } from './support/governance-flow.js';
import { createPsR3Resource } from './support/r3-stub.js';
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

/**
 * The PS as the three-party issuer of R3 auth tokens (draft-hardt-aauth-r3 §R3 Processing, §Hash
 * Verification, §Auth Token Extensions, §Per-Call Proposals, §Audit Log Integrity): documents fetched
 * signed from a stub resource that checks the PS's `jwks_uri` signature, shown at consent, and the
 * resulting claims and audit entries.
 */

const notes = createTestIssuer({
  dwk: DWK.resource,
  issuer: 'https://notes.example',
  metadata: { name: 'Notes' },
});
const MCP = R3_VOCABULARY.mcp;

const CLASS_DOCUMENT = {
  vocabulary: MCP,
  operations: [{ tool: 'create_note' }, { tool: 'delete_note' }],
  display: {
    summary: 'Create and delete your notes',
    implications: 'Notes can be created and removed.',
    data_accessed: 'Note titles and bodies',
    irreversible: 'Deleted notes cannot be restored',
  },
};

let t: TestApp;
let resource: StubR3Resource;
beforeAll(async () => {
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([agentProvider, notes]),
    r3Fetch: (url, request) => resource.fetch(url, request),
  });
});
beforeEach(() => {
  resource = createPsR3Resource(t, notes.issuer);
});
afterAll(async () => {
  await t?.close();
});

function r3Token(bound: BoundAgent, r3: { r3_uri: string; r3_s256: string }, claims = {}) {
  return mintResourceToken(t, notes, bound, { claims: { scope: undefined, ...r3, ...claims } }).jwt;
}

async function counts() {
  return {
    tokens: await t.prisma.issuedAuthToken.count({ where: { aud: notes.issuer } }),
    audit: await t.prisma.r3AuditRecord.count(),
    pending: await t.prisma.pendingRequest.count({ where: { kind: 'auth_token' } }),
  };
}

/** Opens the consent page of a 202 and posts Approve with `fields`; returns the delivered token's claims. */
async function consentAndPoll(
  bound: BoundAgent,
  res: Awaited<ReturnType<typeof requestAuthToken>>,
  fields: Record<string, string> = {},
) {
  const { browser, page } = await openCode(t, codeOf(res));
  expect(page.statusCode).toBe(200);
  const decided = await browser.post('/interaction', {
    _csrf: browser.csrf(),
    request: requestIdOf(page.body),
    decision: 'approve',
    step: '0',
    ...fields,
  });
  expect(decided.statusCode).toBe(200);
  const answer = await poll(t, bound.agent, pathOf(res));
  expect(answer.statusCode).toBe(200);
  return { browser, page, claims: decodeClaims(answer.json().auth_token) };
}

function r3ClaimsOf(claims: Record<string, unknown>) {
  return {
    r3_uri: claims.r3_uri,
    r3_s256: claims.r3_s256,
    r3_granted: claims.r3_granted,
    r3_per_call: claims.r3_per_call,
  };
}

describe('R3 at the PS (three-party issuer)', () => {
  it('fetches the document signed, shows its display and operations, issues r3 claims and audits atomically (§Auth Token Extensions)', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish(CLASS_DOCUMENT);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    // The stub answered a request signed by the PS (jwks_uri) — it refuses any other signer.
    expect(resource.requests).toEqual([r3.r3_uri]);
    // Through egress admission with the R3 bounds (core's guarded fetch enforces them).
    expect(resource.lastRequest).toMatchObject({ method: 'GET', maxBytes: 64 * 1024, timeoutMs: 5000 });
    expect(resource.lastRequest?.headers?.['signature-key']).toContain(`jwks_uri;id="${ISSUER}"`);
    const { page, claims } = await consentAndPoll(bound, res, { r3_op_0: 'grant', r3_op_1: 'per_call' });
    expect(page.body).toContain('Create and delete your notes');
    expect(page.body).toContain('Notes can be created and removed.');
    expect(page.body).toContain('Note titles and bodies');
    expect(page.body).toContain('Deleted notes cannot be restored');
    expect(page.body).toContain('Use the tool “create_note”');
    expect(page.body).toContain('Use the tool “delete_note”');
    expect(page.body).toContain(r3.r3_s256);
    // No bare "no permissions" text for an R3 request without scope.
    expect(page.body).not.toContain('No specific permissions are requested.');
    expect(claims).toMatchObject({
      iss: ISSUER,
      dwk: 'aauth-person.json',
      aud: notes.issuer,
      sub: bound.personToken.sub,
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
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
      r3_per_call: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    // R3 §AS Processing step 4, this PS being the issuer: the audit entry of exactly this token.
    const audit = await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } });
    expect(audit).toMatchObject({
      r3Uri: r3.r3_uri,
      r3S256: r3.r3_s256,
      ps: ISSUER,
      sub: bound.personToken.sub,
      agentJkt: bound.agent.key.thumbprint,
      agentIss: agentProvider.issuer,
      agentSub: bound.agent.claims.sub,
      subagentSub: null,
      proposal: false,
      r3Granted: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
      r3PerCall: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    expect(audit?.issuedAt.getTime()).toBe(Number(claims.iat) * 1000);

    // §Content Addressing: a verified document is cached by hash and never fetched again.
    const again = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(again.statusCode).toBe(200);
    expect(resource.requests).toHaveLength(1);
  });

  it('renders an XSS vector in summary and detail inert', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish({
      vocabulary: MCP,
      operations: [{ tool: 'delete_note' }],
      parameters: { id: 'n-1' },
      display: {
        summary: '<img src=x onerror=alert(1)>Delete',
        detail: '## Action\n<script>alert(2)</script>\n\n[click](javascript:alert(3))',
      },
    });
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    const { page } = await openCode(t, codeOf(res));
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('<img');
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).not.toMatch(/href="javascript:/i);
    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt;Delete');
    expect(page.body).toContain('<h2>Action</h2>');
  });

  it('refuses a document that does not hash to r3_s256: 400 invalid_resource_token, nothing stored (§Hash Verification)', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    // A document this PS has not verified before (a verified one is answered from the hash cache).
    const document = { ...CLASS_DOCUMENT, display: { summary: 'Never seen before' } };
    const r3 = resource.publish(document);
    resource.replace(r3.r3_uri, JSON.stringify({ ...document, operations: [{ tool: 'wipe_all' }] }));
    const before = await counts();
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().error).toBe('invalid_resource_token');
    expect(await counts()).toEqual(before);
    // Not cached either: the next fetch (of the right bytes) verifies.
    resource.replace(r3.r3_uri, JSON.stringify(document));
    const ok = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(ok.statusCode).toBe(202);
  });

  it('maps a document it cannot get: unreachable → 503, refused or off-origin → 400 invalid_resource_token; nothing stored', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const before = await counts();
    const cases: [StubR3Resource['failure'], number, string][] = [
      ['unreachable', 503, 'temporarily_unavailable'],
      ['server_error', 503, 'temporarily_unavailable'],
      ['forbidden', 400, 'invalid_resource_token'],
      ['egress', 400, 'invalid_resource_token'],
    ];
    for (const [failure, status, error] of cases) {
      resource.failure = failure;
      const r3 = resource.publish({ ...CLASS_DOCUMENT, display: { summary: failure } });
      const res = await requestAuthToken(t, bound.agent, {
        resource_token: r3Token(bound, r3),
        capabilities: ['interaction'],
      });
      expect([failure, res.statusCode, res.json().error]).toEqual([failure, status, error]);
      if (status === 503) expect(res.headers['retry-after']).toBe('5');
    }
    resource.failure = 'none';
    // Unknown document at the resource (404) and an r3_uri on another origin.
    const missing = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, {
        r3_uri: `${notes.issuer}/r3/none`,
        r3_s256: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      }),
      capabilities: ['interaction'],
    });
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'invalid_resource_token']);
    const published = resource.publish(CLASS_DOCUMENT);
    const elsewhere = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, { ...published, r3_uri: 'https://evil.example/r3/x' }),
      capabilities: ['interaction'],
    });
    expect([elsewhere.statusCode, elsewhere.json().error]).toEqual([400, 'invalid_resource_token']);
    expect(resource.requests.filter((u) => u.startsWith('https://evil.example'))).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  it('per-call proposal: detail and parameters shown; r3_granted is the one operation; never remembered (§Per-Call Proposals)', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const consentsBefore = await t.prisma.scopeConsent.count();
    const proposal = (id: string) =>
      resource.publish({
        vocabulary: MCP,
        operations: [{ tool: 'delete_note' }],
        parameters: {
          id,
          body: { s256: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', excerpt: 'Groceries: milk…' },
        },
        display: {
          summary: 'Delete a note',
          detail: `## Action\nDelete the note **${id}**`,
          irreversible: 'The note cannot be restored',
        },
      });
    const first = proposal('n-1');
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, first),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    const { page, claims } = await consentAndPoll(bound, res);
    expect(page.body).toContain('The call the agent wants to make');
    expect(page.body).toContain('Delete the note <strong>n-1</strong>');
    expect(page.body).toContain('Groceries: milk…');
    expect(page.body).toContain('<code>id</code>');
    // A proposal has no per-operation choices: Approve approves this one call.
    expect(page.body).not.toContain('name="r3_op_0"');
    expect(claims.r3_uri).toBe(first.r3_uri);
    expect(claims.r3_s256).toBe(first.r3_s256);
    expect(claims.r3_granted).toEqual({ vocabulary: MCP, operations: [{ tool: 'delete_note' }] });
    expect(claims).not.toHaveProperty('r3_per_call');
    const audit = await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } });
    expect(audit?.proposal).toBe(true);
    // No standing consent was stored, so the next proposal — even the same one — asks again.
    expect(await t.prisma.scopeConsent.count()).toBe(consentsBefore);
    for (const next of [proposal('n-2'), first]) {
      const again = await requestAuthToken(t, bound.agent, {
        resource_token: r3Token(bound, next),
        capabilities: ['interaction'],
      });
      expect(again.statusCode).toBe(202);
    }
    // And prompt=none cannot get one issued without the person.
    const silent = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, proposal('n-3')),
      prompt: 'none',
    });
    expect([silent.statusCode, silent.json().error]).toEqual([403, 'user_unreachable']);
  });

  it('allowing none of the operations is a denial: 403 denied, no token, no audit entry', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish(CLASS_DOCUMENT);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    const before = await counts();
    const { browser, page } = await openCode(t, codeOf(res));
    const decided = await browser.post('/interaction', {
      _csrf: browser.csrf(),
      request: requestIdOf(page.body),
      decision: 'approve',
      step: '0',
      r3_op_0: 'deny',
      r3_op_1: 'deny',
    });
    expect(decided.statusCode).toBe(200);
    const answer = await poll(t, bound.agent, pathOf(res));
    expect([answer.statusCode, answer.json().error]).toEqual([403, 'denied']);
    const after = await counts();
    expect([after.tokens, after.audit]).toEqual([before.tokens, before.audit]);
    // A tampered choice is refused without deciding.
    const other = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    const opened = await openCode(t, codeOf(other));
    const tampered = await opened.browser.post('/interaction', {
      _csrf: opened.browser.csrf(),
      request: requestIdOf(opened.page.body),
      decision: 'approve',
      step: '0',
      r3_op_0: 'everything',
    });
    expect(tampered.statusCode).toBe(400);
    expect(await approve(opened.browser, opened.page)).toMatchObject({ statusCode: 200 });
  });

  it('records the approved R3 document by hash in the mission log (§Mission Log)', async () => {
    const mission = await approveMission(t);
    t.clock.advance(100);
    const personRes = await sendSigned(t, {
      method: 'POST',
      path: '/person',
      key: mission.agent.key,
      signatureKey: mission.agent.jwt,
      body: { resource: notes.issuer, mission_s256: mission.s256, capabilities: ['interaction'] },
    });
    let personToken: string;
    if (personRes.statusCode === 202) {
      const { browser, page } = await openCode(t, codeOf(personRes));
      expect((await approve(browser, page)).statusCode).toBe(200);
      personToken = (await poll(t, mission.agent, pathOf(personRes))).json().person_token;
    } else {
      personToken = personRes.json().person_token;
    }
    const pt = decodeClaims(personToken);
    const bound: BoundAgent = {
      agent: mission.agent,
      personToken: { jti: String(pt.jti), sub: String(pt.sub) },
    };
    const r3 = resource.publish(CLASS_DOCUMENT);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3, { mission_s256: mission.s256 }),
      justification: 'Tidy the notes',
    });
    expect(res.statusCode).toBe(202);
    const { claims } = await consentAndPoll(bound, res);
    expect(claims.mission_s256).toBe(mission.s256);
    const log = await t.prisma.missionLogEntry.findMany({
      where: { missionS256: mission.s256, kind: 'token_request' },
      orderBy: { id: 'asc' },
    });
    const details = log.map((e) => e.detail as Record<string, unknown>);
    expect(details.map((d) => [d.decision, d.r3_s256, d.r3_uri])).toEqual([
      ['consent_required', r3.r3_s256, r3.r3_uri],
      ['approved', r3.r3_s256, r3.r3_uri],
    ]);
    expect(details[1]?.r3_granted).toEqual([{ tool: 'create_note' }, { tool: 'delete_note' }]);
    // The person's missions page shows the log, hash included.
    const page = await mission.browser.get('/missions');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(r3.r3_s256);
    // …and the hash in short form with the operations granted, as a line of its own.
    expect(page.body).toContain(
      `R3 document <code title="${r3.r3_s256}">${r3.r3_s256.slice(0, 10)}…</code>: allowed create_note, delete_note`,
    );
  });

  it('an updated_request must keep the R3 document the person is shown (§Updated Request)', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish(CLASS_DOCUMENT);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction', 'clarification'],
    });
    expect(res.statusCode).toBe(202);
    const { browser, page } = await openCode(t, codeOf(res));
    const asked = await browser.post('/interaction/clarify', {
      _csrf: browser.csrf(),
      request: requestIdOf(page.body),
      question: 'Why delete?',
    });
    expect(asked.statusCode).toBe(303);
    const other = resource.publish({ ...CLASS_DOCUMENT, operations: [{ tool: 'create_note' }] });
    for (const claims of [other, { r3_uri: undefined, r3_s256: undefined }]) {
      const updated = await postPending(t, bound.agent, pathOf(res), {
        action: 'updated_request',
        resource_token: r3Token(bound, r3, claims),
      });
      expect([updated.statusCode, updated.json().error]).toEqual([400, 'invalid_resource_token']);
    }
    const same = await postPending(t, bound.agent, pathOf(res), {
      action: 'updated_request',
      resource_token: r3Token(bound, r3),
    });
    expect(same.statusCode).toBe(202);
  });
});

describe('remembered R3 class decisions (docs/spec-decisions.md: by r3_s256, proposals never)', () => {
  /** One approved class document: create_note allowed, delete_note per call. */
  async function decideOnce(bound: BoundAgent, r3: { r3_uri: string; r3_s256: string }) {
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    return consentAndPoll(bound, res, { r3_op_0: 'grant', r3_op_1: 'per_call' });
  }

  it('the same document is issued at once with the stored decision, audited with the token; the dashboard shows it', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    // A document of this test only: the person's dashboard lists what the other tests left too.
    const r3 = resource.publish({ ...CLASS_DOCUMENT, display: { summary: 'Remembered access' } });
    const { browser, claims: first } = await decideOnce(bound, r3);
    const stored = await t.prisma.scopeConsent.findFirstOrThrow({
      where: { agentSub: bound.agent.claims.sub, resource: notes.issuer, revokedAt: null },
    });
    expect(stored).toMatchObject({
      scope: '',
      missionS256: null,
      r3S256: r3.r3_s256,
      r3Granted: [{ tool: 'create_note' }],
      r3PerCall: [{ tool: 'delete_note' }],
    });
    const pendingBefore = (await counts()).pending;
    // prompt=none: the person is not to be involved, and need not be.
    const again = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      prompt: 'none',
    });
    expect(again.statusCode).toBe(200);
    const claims = decodeClaims(again.json().auth_token);
    expect(claims.jti).not.toBe(first.jti);
    expect(r3ClaimsOf(claims)).toEqual(r3ClaimsOf(first));
    expect((await counts()).pending).toBe(pendingBefore);
    // R3 §AS Processing step 4 / §Audit Log Integrity: the remembered issuance has its entry too.
    expect(await t.prisma.r3AuditRecord.findUnique({ where: { jti: String(claims.jti) } })).toMatchObject({
      r3S256: r3.r3_s256,
      proposal: false,
      r3Granted: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
      r3PerCall: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    // A scope-less R3 decision is no consent for a request without R3 (nor scope).
    const plain = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, notes, bound, { claims: { scope: undefined } }).jwt,
      prompt: 'none',
    });
    expect([plain.statusCode, plain.json().error]).toEqual([403, 'user_unreachable']);

    const dashboard = await browser.get('/dashboard');
    expect(dashboard.statusCode).toBe(200);
    const short = `<code title="${r3.r3_s256}">${r3.r3_s256.slice(0, 10)}…</code>`;
    // Once in the consents, once for each live token.
    expect(dashboard.body.split(short)).toHaveLength(4);
    expect(dashboard.body).toContain('allowed create_note; ask before each call: delete_note');
  });

  it('another document hash asks again', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    await decideOnce(bound, resource.publish(CLASS_DOCUMENT));
    const other = resource.publish({ ...CLASS_DOCUMENT, display: { summary: 'Manage your notes' } });
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, other),
      capabilities: ['interaction'],
    });
    expect(res.statusCode).toBe(202);
    const silent = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, other),
      prompt: 'none',
    });
    expect([silent.statusCode, silent.json().error]).toEqual([403, 'user_unreachable']);
  });

  it('a document with an operation the person did not allow asks again', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish(CLASS_DOCUMENT);
    const res = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    const { claims } = await consentAndPoll(bound, res, { r3_op_0: 'grant', r3_op_1: 'deny' });
    expect(claims.r3_granted).toEqual({ vocabulary: MCP, operations: [{ tool: 'create_note' }] });
    const again = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(again.statusCode).toBe(202);
  });

  it('revoking the consent on the dashboard asks again', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, notes.issuer);
    const r3 = resource.publish(CLASS_DOCUMENT);
    const { browser } = await decideOnce(bound, r3);
    const consent = await t.prisma.scopeConsent.findFirstOrThrow({
      where: { agentSub: bound.agent.claims.sub, r3S256: r3.r3_s256, revokedAt: null },
    });
    await browser.get('/dashboard');
    const revoked = await browser.post('/dashboard/consents/revoke', {
      _csrf: browser.csrf(),
      kind: 'scope',
      id: consent.id,
    });
    expect(revoked.statusCode).toBe(303);
    const again = await requestAuthToken(t, bound.agent, {
      resource_token: r3Token(bound, r3),
      capabilities: ['interaction'],
    });
    expect(again.statusCode).toBe(202);
  });
});
