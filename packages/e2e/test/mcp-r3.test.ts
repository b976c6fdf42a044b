import { type ConnectedMcpClient, connectMcpClient, type Mission } from '@aauth-ref/agent';
import { DEV, parseAAuthRequirement, R3_VOCABULARY_MCP } from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { chromiumSkipReason } from '@aauth-ref/testkit/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentExchange, claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { decideAfterReading, renderedText, type SeenPage } from './support/chromium-consent.js';
import { ChromiumPerson } from './support/chromium-person.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * Issue 11's acceptance scenario: an MCP host (the official MCP SDK `Client` over the agent SDK's
 * transport) works for alice under a mission at the demo resource's AAuth-protected MCP endpoint,
 * and alice decides every request in headless Chromium at the PS's own pages.
 * - `tools/list` needs the agent token alone (a bare signed request shows it; the SDK, holding the
 *   mission's person token, lists unchallenged). It calls the read tool and is challenged (`401`) for
 *   an auth token on the write tool; the PS's consent page shows the R3 operations in the resource's
 *   words (R3 §R3 Processing: `display` of the R3 document) next to the scopes.
 * - `delete_note` is a per-call operation: the call is challenged with a proposal (R3 §Per-Call
 *   Proposals), alice sees the proposal's description of that very call, approves, and the retried
 *   call runs once.
 * - The mission log records each R3 document by hash (R3 §Auth Token Extensions, §Audit Log Integrity).
 * - Negative: a grant for one tool authorizes no other; the R3 document is served to no agent and to
 *   no unsigned request (§R3 Document Access Restriction).
 * Whether the PS remembers a class R3 consent is not asserted (it is changing): every request here is
 * for a document alice has not seen before.
 */

const skipReason = chromiumSkipReason();

let clock: FakeClock;
let stack: Stack;
let person: ChromiumPerson;
let test: TestAgent;
let mission: Mission;
let mcp: ConnectedMcpClient;
/** Every interaction page alice saw, in order. */
const seen: SeenPage[] = [];
/** The auth token that granted the read tool only. */
let readToken: string;
/** The class auth token that granted the read and the write tools. */
let writeToken: string;
/** The per-call auth token of the one approved deletion. */
let perCallToken: string;
/** The R3 document of the write grant and the proposal of the deletion, as the tokens name them. */
let classDocument: { r3_uri: string; r3_s256: string };
let proposal: { r3_uri: string; r3_s256: string };

const mcpUrl = () => new URL('/mcp', stack.rs.issuer).href;
const onMcp = (exchanges: readonly AgentExchange[]) => exchanges.filter((e) => e.url === mcpUrl());
const toPs = (exchanges: readonly AgentExchange[]) =>
  exchanges.filter((e) => e.url.startsWith(stack.ps.issuer));
/** The JWT of a `Signature-Key: sig=jwt;jwt="…"` request header. */
const jwtOf = (exchange: AgentExchange) =>
  /jwt="([^"]+)"/.exec(exchange.requestHeaders['signature-key'] ?? '')?.[1];
const mcpGrant = (...tools: string[]) => ({
  vocabulary: R3_VOCABULARY_MCP,
  operations: tools.map((tool) => ({ tool })),
});

/** Runs `call` and returns the agent's exchanges and the pages alice saw meanwhile. */
async function during<T>(call: () => Promise<T>) {
  const from = test.exchanges.length;
  const pages = seen.length;
  const result = await call();
  return { result, exchanges: test.exchanges.slice(from), pages: seen.slice(pages) };
}

/** The resource token of a `401` `requirement=auth-token` challenge, decoded. */
function challengedResourceToken(exchange: AgentExchange): Record<string, unknown> {
  expect(exchange.status).toBe(401);
  const requirement = parseAAuthRequirement(exchange.headers.get('aauth-requirement') ?? '', DEV);
  expect(requirement).toMatchObject({ requirement: 'auth-token', 'resource-token': expect.any(String) });
  return claimsOf((requirement as { 'resource-token': string })['resource-token']);
}

/** A JSON-RPC `tools/call` to the MCP endpoint, signed with `token` by the agent's key (no SDK). */
async function rawToolCall(token: string, name: string, args: Record<string, unknown>): Promise<Response> {
  const { key } = await test.credentials();
  return signedFetch(mcpUrl(), {
    method: 'POST',
    key,
    signatureKey: token,
    clock,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } },
  });
}

/** The notes alice has, read through the MCP read tool (the host's cached grant). */
async function noteTexts(): Promise<string[]> {
  const listed = (await mcp.client.callTool({ name: 'list_notes', arguments: {} })) as unknown as {
    structuredContent: { notes: { text: string }[] };
  };
  return listed.structuredContent.notes.map((n) => n.text);
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  [stack, person] = await Promise.all([startStack(clock), ChromiumPerson.launch()]);
  test = createTestAgent({
    clock,
    account: stack.alice,
    person: async (prompt, decision, account) => {
      const page = await decideAfterReading(person, prompt, account, {
        decision: decision === 'Deny' ? 'Deny' : 'Approve',
        ps: stack.ps.issuer,
      });
      seen.push(page);
      expect(page.status).toBe(200);
    },
  });
  // alice approves the enrollment in the browser too.
  await test.agent.enroll(stack.ps.issuer, { name: 'Notes over MCP', platform: 'e2e' });
  seen.length = 0;
  // §Mission Creation: alice approves the mission in the browser; the agent works under it from now on.
  mission = await test.agent.proposeMission({
    description: '# Tidy my notes\n\nKeep my notes short: add what I ask, delete what is done.',
    resources: [stack.rs.issuer],
  });
  expect(mission.status).toBe('active');
  expect(seen.map((p) => [p.prompt.server, p.r3])).toEqual([[stack.ps.issuer, undefined]]);
  expect(seen[0]!.text).toContain('Tidy my notes');
  seen.length = 0;
}, 60_000);

afterAll(async () => {
  await mcp?.close();
  await person?.close();
  await stack?.close();
});

describe.skipIf(skipReason !== undefined)(
  `an MCP host under a mission, R3 consent in the browser (issue 11)${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('lists the MCP tools with its agent token alone', async () => {
      // The resource asks no more than the agent token for tools/list: a bare signed request gets them.
      const { key, agentToken } = await test.credentials();
      const bare = await signedFetch(mcpUrl(), {
        method: 'POST',
        key,
        signatureKey: agentToken,
        clock,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      });
      expect(bare.status).toBe(200);
      expect(bare.headers.get('aauth-requirement')).toBeNull();
      const listed = (await bare.json()) as { result: { tools: { name: string }[] } };
      expect(listed.result.tools.map((tool) => tool.name)).toEqual([
        'list_notes',
        'create_note',
        'delete_note',
      ]);

      // The MCP host under the mission: connects and lists without any challenge, PS request or person.
      const { result, exchanges, pages } = await during(async () => {
        mcp = await connectMcpClient(test.agent, mcpUrl(), { prepare: false });
        return mcp.client.listTools();
      });
      expect(result.tools.map((tool) => tool.name)).toEqual(['list_notes', 'create_note', 'delete_note']);
      const calls = onMcp(exchanges);
      expect(calls.length).toBeGreaterThan(0);
      for (const exchange of calls) {
        expect(exchange.status).not.toBe(401);
        expect(exchange.headers.get('aauth-requirement')).toBeNull();
      }
      expect(toPs(exchanges)).toEqual([]);
      expect(pages).toEqual([]);
    });

    it('calls the read tool: challenged for an auth token, alice sees the R3 operation, the auth token grants that tool', async () => {
      const { result, exchanges, pages } = await during(() =>
        mcp.client.callTool({ name: 'list_notes', arguments: {} }),
      );
      expect(result).toMatchObject({ structuredContent: { notebook: 'personal', notes: [] } });
      const calls = onMcp(exchanges);
      expect(calls.at(-1)!.status).toBe(200);
      const resourceToken = challengedResourceToken(calls.at(-2)!);
      expect(resourceToken).toMatchObject({ r3_uri: expect.any(String), r3_s256: expect.any(String) });
      // R3 §R3 Processing: the consent page shows the operation in the resource's words.
      expect(pages).toHaveLength(1);
      expect(pages[0]!.r3).toContain('Read the notes in your notebook');
      expect(pages[0]!.r3).toContain('Use the tool “list_notes”');
      expect(pages[0]!.r3).toContain(resourceToken.r3_s256 as string);
      readToken = jwtOf(calls.at(-1)!)!;
      expect(claimsOf(readToken)).toMatchObject({
        iss: stack.ps.issuer,
        aud: stack.rs.issuer,
        mission_s256: mission.s256,
        r3_uri: resourceToken.r3_uri,
        r3_s256: resourceToken.r3_s256,
        r3_granted: mcpGrant('list_notes'),
      });
    });

    it('is challenged (401) for an auth token on the write tool; the consent page shows the R3 operations in human terms; the call runs', async () => {
      const { result, exchanges, pages } = await during(() =>
        mcp.client.callTool({ name: 'create_note', arguments: { text: 'Renew the library card' } }),
      );
      expect(result).toMatchObject({ structuredContent: { note: { text: 'Renew the library card' } } });
      const calls = onMcp(exchanges);
      expect(calls.map((e) => e.status)).toEqual([401, 200]);
      const [challenge, retried] = calls as [AgentExchange, AgentExchange];
      // The read grant was presented and is not enough: the step-up names a document for both tools.
      expect(jwtOf(challenge)).toBe(readToken);
      const resourceToken = challengedResourceToken(challenge);
      const { key } = await test.credentials();
      expect(resourceToken).toMatchObject({
        iss: stack.rs.issuer,
        aud: stack.ps.issuer,
        agent_jkt: key.thumbprint,
        mission_s256: mission.s256,
        r3_uri: `${stack.rs.issuer}/r3/${resourceToken.r3_s256 as string}`,
      });
      classDocument = { r3_uri: resourceToken.r3_uri as string, r3_s256: resourceToken.r3_s256 as string };
      expect(toPs(exchanges).map((e) => [e.method, new URL(e.url).pathname])).toContainEqual([
        'POST',
        '/token',
      ]);
      // What alice read before approving, as Chromium rendered it.
      expect(pages).toHaveLength(1);
      const consent = pages[0]!;
      expect(consent.prompt.server).toBe(stack.ps.issuer);
      expect(consent.title).toBe('Review the request');
      expect(consent.r3).toContain('What the resource says this allows');
      expect(consent.r3).toContain(
        'Read the notes in your notebook; Add notes to your notebook (your personal notebook)',
      );
      expect(consent.r3).toContain('New notes appear in the notebook.');
      expect(consent.r3).toContain('Use the tool “list_notes”');
      expect(consent.r3).toContain('Use the tool “create_note”');
      expect(consent.r3).toContain(classDocument.r3_s256);
      writeToken = jwtOf(retried)!;
      expect(claimsOf(writeToken)).toMatchObject({
        mission_s256: mission.s256,
        ...classDocument,
        r3_granted: mcpGrant('list_notes', 'create_note'),
      });
    });

    it('R3 §Per-Call Proposals: delete_note is proposed, alice sees that call described and approves, the retried call runs once', async () => {
      const created = (await mcp.client.callTool({
        name: 'create_note',
        arguments: { text: 'Return the ladder to Sam' },
      })) as unknown as { structuredContent: { note: { id: string } } };
      const id = created.structuredContent.note.id;
      const { result, exchanges, pages } = await during(() =>
        mcp.client.callTool({ name: 'delete_note', arguments: { id } }),
      );
      expect(result).toMatchObject({ structuredContent: { deleted: id } });
      const calls = onMcp(exchanges);
      expect(calls.map((e) => e.status)).toEqual([401, 200]);
      const [challenge, retried] = calls as [AgentExchange, AgentExchange];
      // The class grant does not run a per-call operation: the challenge references a proposal.
      expect(jwtOf(challenge)).toBe(writeToken);
      const resourceToken = challengedResourceToken(challenge);
      proposal = { r3_uri: resourceToken.r3_uri as string, r3_s256: resourceToken.r3_s256 as string };
      expect(proposal.r3_s256).not.toBe(classDocument.r3_s256);
      // alice saw the proposal's description of this very call (its `display`, `detail` rendered).
      expect(pages).toHaveLength(1);
      const shown = pages[0]!;
      expect(shown.r3).toContain('The call the agent wants to make');
      expect(shown.r3).toContain('Delete one note from your personal notebook');
      expect(shown.r3).toContain('Return the ladder to Sam');
      expect(shown.r3).toContain(id);
      expect(shown.r3).toContain('A deleted note cannot be recovered.');
      expect(shown.r3).toContain('Use the tool “delete_note”, once, exactly as described.');
      expect(shown.r3).toContain(proposal.r3_s256);
      // The per-call auth token echoes the proposal and grants the one operation (Flow step 2).
      perCallToken = jwtOf(retried)!;
      expect(claimsOf(perCallToken)).toMatchObject({
        mission_s256: mission.s256,
        ...proposal,
        r3_granted: mcpGrant('delete_note'),
      });
      // Presented once, on the retry of the same call (same body bytes), and never cached.
      expect(test.exchanges.filter((e) => jwtOf(e) === perCallToken)).toHaveLength(1);
      expect(retried.requestBody).toBe(challenge.requestBody);
      expect(await test.token('auth', stack.rs.issuer)).toBe(writeToken);
      // The resource consumed the proposal once, with that token.
      const executions = await stack.rs.db.exec<{ auth_jti: string }>(
        'SELECT auth_jti FROM r3_per_call_execution WHERE r3_s256 = $1',
        [proposal.r3_s256],
      );
      expect(executions).toEqual([{ auth_jti: claimsOf(perCallToken).jti }]);
      // It ran: the note is gone, the other one stays.
      expect(await noteTexts()).toEqual(['Renew the library card']);
    });

    it('the mission log records the R3 document of each approval by hash (database and the PS mission page)', async () => {
      const log = await stack.ps.db.exec<{ kind: string; detail: Record<string, unknown> }>(
        'SELECT kind, detail FROM mission_log_entry WHERE mission_s256 = $1 ORDER BY id',
        [mission.s256],
      );
      const r3Requests = log.filter((e) => e.kind === 'token_request' && e.detail.r3_s256 !== undefined);
      expect(r3Requests.map((e) => e.detail.r3_s256)).toEqual(
        expect.arrayContaining([claimsOf(readToken).r3_s256, classDocument.r3_s256, proposal.r3_s256]),
      );
      // The approval names the document it was decided on, and what the person granted from it.
      const details = r3Requests.map((e) => e.detail);
      expect(details).toContainEqual(
        expect.objectContaining({
          resource: stack.rs.issuer,
          r3_uri: classDocument.r3_uri,
          r3_s256: classDocument.r3_s256,
          r3_granted: mcpGrant('list_notes', 'create_note').operations,
        }),
      );
      expect(details).toContainEqual(
        expect.objectContaining({
          r3_uri: proposal.r3_uri,
          r3_s256: proposal.r3_s256,
          r3_proposal: true,
          r3_granted: mcpGrant('delete_note').operations,
        }),
      );
      // What alice sees on her missions page.
      await person.openSignedIn(`${stack.ps.issuer}/missions`, stack.alice);
      const section = person.page.locator(`section[aria-label="Mission ${mission.s256}"]`);
      const text = await renderedText(section);
      expect(text).toContain(classDocument.r3_s256);
      expect(text).toContain(proposal.r3_s256);
      await person.signOut(stack.ps.issuer);
    });

    it('negative: a grant for one tool does not authorize another (R3 §Grant Enforcement)', async () => {
      // The read grant, signed by the agent's key, for the write tool: a step-up, nothing runs.
      const write = await rawToolCall(readToken, 'create_note', { text: 'Not granted' });
      expect(write.status).toBe(401);
      expect(write.headers.get('signature-error')).toBeNull();
      const stepUp = parseAAuthRequirement(write.headers.get('aauth-requirement') ?? '', DEV);
      expect(stepUp).toMatchObject({ requirement: 'auth-token' });
      // The per-call grant of one deletion, for the write tool: the same.
      const again = await rawToolCall(perCallToken, 'create_note', { text: 'Not granted either' });
      expect(again.status).toBe(401);
      expect(parseAAuthRequirement(again.headers.get('aauth-requirement') ?? '', DEV)).toMatchObject({
        requirement: 'auth-token',
      });
      // An MCP grant authorizes no operation of another vocabulary (the REST API, OpenAPI).
      const { key } = await test.credentials();
      const rest = await signedFetch(`${stack.rs.issuer}/api/notes`, {
        key,
        signatureKey: writeToken,
        clock,
      });
      expect(rest.status).toBe(401);
      expect(parseAAuthRequirement(rest.headers.get('aauth-requirement') ?? '', DEV)).toMatchObject({
        requirement: 'auth-token',
      });
      expect(await noteTexts()).toEqual(['Renew the library card']);
    });

    it('negative: the R3 document is refused to the agent (signed) and to an unsigned fetch (§R3 Document Access Restriction)', async () => {
      const { key, agentToken } = await test.credentials();
      for (const signatureKey of [agentToken, writeToken]) {
        const signed = await signedFetch(classDocument.r3_uri, { key, signatureKey, clock });
        expect(signed.status).toBe(401);
        expect(signed.headers.get('signature-error')).toMatch(/unsupported_scheme/);
        expect(signed.headers.get('accept-signature-scheme')).toMatch(/jwks_uri/);
        expect(await signed.json()).toMatchObject({ type: 'urn:ietf:params:sig-error:unsupported_scheme' });
      }
      const proposalFetch = await signedFetch(proposal.r3_uri, { key, signatureKey: agentToken, clock });
      expect(proposalFetch.status).toBe(401);
      const unsigned = await fetch(classDocument.r3_uri);
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toMatch(/invalid_request/);
      const body = (await unsigned.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ type: 'urn:ietf:params:sig-error:invalid_request' });
      expect(body.vocabulary).toBeUndefined();
    });
  },
);
