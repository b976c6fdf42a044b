import { type ConnectedMcpClient, connectMcpClient, MCP_ACCESS_MODE_META } from '@aauth-ref/agent';
import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentExchange, claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * An MCP host on the official MCP SDK `Client`, connected to the demo resource's MCP endpoint through
 * the agent SDK's transport (`@aauth-ref/agent` `connectMcpClient`): every MCP HTTP request is
 * signed, and every AAuth challenge is answered inside the transport's fetch before the MCP SDK sees
 * it; alice consents at the PS over HTTP (the person driver).
 * - `reactive` does not plan (`prepare: false`): it lists the tools with its agent token alone, calls
 *   the read tool and the write tool, and is challenged (`401`, never `202`) for each auth token.
 * - `planner` reads the tools' R3 access mode annotations and obtains each tool's auth token at the
 *   resource's authorization endpoint (`r3_operations`) before the tool's first call (R3 §Operation
 *   Access Annotations): no tool call of it is challenged.
 */

const MCP_VOCABULARY = 'urn:aauth:vocabulary:mcp';

let clock: FakeClock;
let stack: Stack;

const mcpUrl = () => new URL('/mcp', stack.rs.issuer).href;

interface Host {
  readonly test: TestAgent;
  mcp?: ConnectedMcpClient;
}

const reactive: Host = { test: undefined as unknown as TestAgent };
const planner: Host = { test: undefined as unknown as TestAgent };

function newHost(host: Host, name: string): Promise<unknown> {
  (host as { test: TestAgent }).test = createTestAgent({ clock, account: stack.alice });
  return host.test.agent.enroll(stack.ps.issuer, { name, platform: 'e2e' });
}

const path = (e: AgentExchange) => new URL(e.url).pathname;
const onMcp = (exchanges: AgentExchange[]) => exchanges.filter((e) => e.url === mcpUrl());
const toPs = (exchanges: AgentExchange[]) => exchanges.filter((e) => e.url.startsWith(stack.ps.issuer));
beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startStack(clock);
  await newHost(reactive, 'Notes over MCP (reactive)');
  await newHost(planner, 'Notes over MCP (planner)');
}, 60_000);

afterAll(async () => {
  await reactive.mcp?.close();
  await planner.mcp?.close();
  await stack?.close();
});

/** The id of the note a `create_note` result names. */
function noteIdOf(result: unknown): string {
  return (result as { structuredContent: { note: { id: string } } }).structuredContent.note.id;
}

/** Every exchange of the host's agent so far. */
const host = (h: Host) => h.test.exchanges;

/** Runs `call` on `host` and returns the agent's exchanges it caused. */
async function during(host: Host, call: () => Promise<unknown>) {
  const from = host.test.exchanges.length;
  const interactions = host.test.interactions.length;
  const result = await call();
  return {
    result,
    exchanges: host.test.exchanges.slice(from),
    interactions: host.test.interactions.slice(interactions).map((i) => [i.server, i.decision]),
  };
}

describe('an MCP host that answers challenges (issue 11: list, read, challenged write)', () => {
  it('connects and lists the tools with only its agent token; the tools carry R3 access mode annotations', async () => {
    const { result, exchanges, interactions } = await during(reactive, async () => {
      reactive.mcp = await connectMcpClient(reactive.test.agent, mcpUrl(), { prepare: false });
      return reactive.mcp.client.listTools();
    });
    const { tools } = result as Awaited<ReturnType<ConnectedMcpClient['client']['listTools']>>;
    expect(tools.map((tool) => tool.name)).toEqual(['list_notes', 'create_note', 'delete_note']);
    // R3 §Vocabulary Encodings: `_meta` of the Tool, `aauth.dev/access-mode`; the transport read them.
    const modes = reactive.mcp!.transport.aauth;
    for (const tool of tools) expect(modes.accessModeOf(tool.name)).toBe(tool._meta?.[MCP_ACCESS_MODE_META]);
    expect(modes.accessModeOf('create_note')).toBe('auth-token');

    const { agentToken } = await reactive.test.credentials();
    // initialize, notifications/initialized (a bare 202), the SSE GET (405, stateless), tools/list.
    expect(onMcp(exchanges).map((e) => [e.method, e.status])).toEqual([
      ['POST', 200],
      ['POST', 202],
      ['GET', 405],
      ['POST', 200],
    ]);
    for (const exchange of onMcp(exchanges)) {
      expect(exchange.requestHeaders['signature-key']).toBe(`sig=jwt;jwt="${agentToken}"`);
      expect(exchange.headers.get('aauth-requirement')).toBeNull();
    }
    // Nothing was asked of the PS or of alice.
    expect(toPs(exchanges)).toEqual([]);
    expect(interactions).toEqual([]);
  });

  it('calls the read tool: challenged for an auth token, obtained from the PS with alice’s consent', async () => {
    const { result, exchanges, interactions } = await during(reactive, () =>
      reactive.mcp!.client.callTool({ name: 'list_notes', arguments: {} }),
    );
    expect(result).toMatchObject({ structuredContent: { notebook: 'personal', notes: [] } });
    const mcp = onMcp(exchanges);
    // §Person Token Required, then §Auth Token Required — both 401 on the MCP endpoint.
    expect(mcp.map((e) => e.status)).toEqual([401, 401, 200]);
    expect(mcp[0]!.headers.get('aauth-requirement')).toBe('requirement=person-token');
    expect(parseAAuthRequirement(mcp[1]!.headers.get('aauth-requirement') ?? '', DEV)).toMatchObject({
      requirement: 'auth-token',
    });
    expect(toPs(exchanges).map(path)).toEqual(expect.arrayContaining(['/person', '/token']));
    expect(interactions.length).toBeGreaterThanOrEqual(1);
    const authToken = (await reactive.test.token('auth', stack.rs.issuer))!;
    expect(claimsOf(authToken)).toMatchObject({ iss: stack.ps.issuer, aud: stack.rs.issuer });
    expect(mcp[2]!.requestHeaders['signature-key']).toContain(authToken);
  });

  it('is challenged for an auth token on the write tool (401, never 202), obtains it through the PS, and calls it', async () => {
    const readToken = (await reactive.test.token('auth', stack.rs.issuer))!;
    const { result, exchanges, interactions } = await during(reactive, () =>
      reactive.mcp!.client.callTool({ name: 'create_note', arguments: { text: 'Buy oat milk' } }),
    );
    expect(result).toMatchObject({
      structuredContent: { note: { notebook: 'personal', text: 'Buy oat milk' } },
    });
    const mcp = onMcp(exchanges);
    expect(mcp.map((e) => e.status)).toEqual([401, 200]);
    // §Auth Token Required (step-up): the call with the read grant is answered with a resource token
    // naming this resource, the agent's key and the write access.
    const [challenge, retried] = mcp as [AgentExchange, AgentExchange];
    expect(challenge.requestHeaders['signature-key']).toContain(readToken);
    const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement') ?? '', DEV);
    expect(requirement).toMatchObject({ requirement: 'auth-token' });
    const { key } = await reactive.test.credentials();
    expect(claimsOf((requirement as { 'resource-token': string })['resource-token'])).toMatchObject({
      iss: stack.rs.issuer,
      aud: stack.ps.issuer,
      agent_jkt: key.thumbprint,
      scope: expect.stringContaining('notes.write'),
    });
    // The PS issued the auth token after alice approved.
    expect(toPs(exchanges).map(path)).toContain('/token');
    expect(interactions).toEqual([[stack.ps.issuer, 'Approve']]);
    const writeToken = (await reactive.test.token('auth', stack.rs.issuer))!;
    expect(writeToken).not.toBe(readToken);
    // The retry of the same call presented it.
    expect(retried.requestHeaders['signature-key']).toContain(writeToken);

    // The read tool sees the note on the same auth token, with nothing more asked of anyone.
    const listed = await during(reactive, () =>
      reactive.mcp!.client.callTool({ name: 'list_notes', arguments: {} }),
    );
    expect(listed.result).toMatchObject({ structuredContent: { notes: [{ text: 'Buy oat milk' }] } });
    expect(listed.exchanges.map((e) => [path(e), e.status])).toEqual([['/mcp', 200]]);
  });
});

describe('an MCP host that plans from the annotations (R3 §Operation Access Annotations)', () => {
  it('obtains the read tool’s auth token at the authorization endpoint before its first call', async () => {
    planner.mcp = await connectMcpClient(planner.test.agent, mcpUrl());
    await planner.mcp.client.listTools();
    const { result, exchanges, interactions } = await during(planner, () =>
      planner.mcp!.client.callTool({ name: 'list_notes', arguments: {} }),
    );
    // alice's notebook, which the reactive host wrote to.
    expect(result).toMatchObject({ structuredContent: { notebook: 'personal' } });
    // R3 §Authorization Endpoint Extensions: r3_operations in the MCP vocabulary, before the call.
    const authorize = exchanges.filter((e) => e.url === new URL('/authorize', stack.rs.issuer).href);
    expect(authorize.at(-1)!.status).toBe(200);
    expect(interactions.length).toBeGreaterThanOrEqual(1);
    const authToken = (await planner.test.token('auth', stack.rs.issuer))!;
    expect(claimsOf(authToken)).toMatchObject({
      r3_granted: { vocabulary: MCP_VOCABULARY, operations: [{ tool: 'list_notes' }] },
    });
    // The tool's first call already carried it: no challenge on the MCP endpoint.
    expect(onMcp(exchanges).map((e) => e.status)).toEqual([200]);
    expect(onMcp(exchanges)[0]!.requestHeaders['signature-key']).toContain(authToken);
  });

  it('obtains the write tool’s auth token before its first call, keeping the read grant', async () => {
    const { result, exchanges, interactions } = await during(planner, () =>
      planner.mcp!.client.callTool({ name: 'create_note', arguments: { text: 'Call the plumber' } }),
    );
    expect(result).toMatchObject({ structuredContent: { note: { text: 'Call the plumber' } } });
    expect(interactions).toEqual([[stack.ps.issuer, 'Approve']]);
    const authToken = (await planner.test.token('auth', stack.rs.issuer))!;
    const granted = (claimsOf(authToken).r3_granted as { operations: { tool: string }[] }).operations;
    expect(granted.map((op) => op.tool).sort()).toEqual(['create_note', 'list_notes']);
    expect(onMcp(exchanges).map((e) => e.status)).toEqual([200]);
    // The read tool still runs on it.
    const listed = await during(planner, () =>
      planner.mcp!.client.callTool({ name: 'list_notes', arguments: {} }),
    );
    expect(listed.exchanges.map((e) => [path(e), e.status])).toEqual([['/mcp', 200]]);
  });

  it('R3 §Per-Call Proposals: the destructive tool is approved for that one call and retried with the per-call token', async () => {
    const id = noteIdOf(
      await planner.mcp!.client.callTool({ name: 'create_note', arguments: { text: 'Delete me' } }),
    );
    const { result, exchanges, interactions } = await during(planner, () =>
      planner.mcp!.client.callTool({ name: 'delete_note', arguments: { id } }),
    );
    expect(result).toMatchObject({ structuredContent: { deleted: id } });
    const classToken = (await planner.test.token('auth', stack.rs.issuer))!;
    const mcp = onMcp(exchanges);
    expect(mcp.map((e) => e.status)).toEqual([401, 200]);
    const [challenge, retried] = mcp as [AgentExchange, AgentExchange];
    // Flow 1: the call is challenged with a resource token referencing the per-call proposal.
    expect(challenge.requestHeaders['signature-key']).toContain(classToken);
    const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement') ?? '', DEV);
    expect(requirement).toMatchObject({ requirement: 'auth-token' });
    const proposalRef = claimsOf((requirement as { 'resource-token': string })['resource-token']);
    expect(proposalRef.r3_s256).toEqual(expect.any(String));
    expect(proposalRef.r3_s256).not.toBe(claimsOf(classToken).r3_s256);
    // Flow 2: alice approved that call at the PS; the per-call auth token echoes the proposal.
    expect(interactions.at(-1)).toEqual([stack.ps.issuer, 'Approve']);
    const perCallToken = /jwt="([^"]+)"/.exec(retried.requestHeaders['signature-key']!)![1]!;
    expect(claimsOf(perCallToken)).toMatchObject({
      r3_uri: proposalRef.r3_uri,
      r3_s256: proposalRef.r3_s256,
      r3_granted: { vocabulary: MCP_VOCABULARY, operations: [{ tool: 'delete_note' }] },
    });
    // Flow 3–4: presented once, on the retry of the same call, and never cached for another.
    expect(
      host(planner).filter((e) => e.requestHeaders['signature-key']?.includes(perCallToken)),
    ).toHaveLength(1);
    expect(classToken).not.toBe(perCallToken);
    expect(claimsOf(classToken).r3_s256).not.toBe(proposalRef.r3_s256);

    // The next deletion is a new proposal and a new approval, not a reuse of the per-call grant.
    const againId = noteIdOf(
      await planner.mcp!.client.callTool({ name: 'create_note', arguments: { text: 'And me' } }),
    );
    const second = await during(planner, () =>
      planner.mcp!.client.callTool({
        name: 'delete_note',
        arguments: { id: againId },
      }),
    );
    expect(second.result).toMatchObject({ structuredContent: { deleted: againId } });
    expect(onMcp(second.exchanges).map((e) => e.status)).toEqual([401, 200]);
    expect(second.interactions).toEqual([[stack.ps.issuer, 'Approve']]);
  });
});
