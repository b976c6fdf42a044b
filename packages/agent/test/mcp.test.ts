import { decodeJwtUnverified } from '@aauth-ref/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import {
  AAuthMcpTransport,
  type Agent,
  connectMcpClient,
  createMemoryStore,
  type FetchLike,
  RemoteError,
} from '../src/index.js';
import { installMcpStub } from './support/mcp-stub.js';
import { createWorld, requirementHeader, type World } from './support/world.js';

let world: World;
let stub: ReturnType<typeof installMcpStub>;
beforeEach(async () => {
  world = await createWorld();
  stub = installMcpStub(world);
});
afterEach(async () => {
  await world.close();
});

const mcpUrl = () => `${world.rs.url}/mcp`;

function psHits(path: string): number {
  return world.ps.hits('POST', path);
}

async function connect(agent: Agent) {
  const mcp = await connectMcpClient(agent, mcpUrl());
  await mcp.client.listTools();
  return mcp;
}

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0] as { text: string }).text;
}

describe('MCP client transport over the signing fetch', () => {
  it('lists the tools with only the agent token and reads their R3 access mode annotations', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connectMcpClient(agent, mcpUrl());
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['whoami', 'create_note', 'delete_note']);
    // R3 §Vocabulary Encodings: `_meta` of the Tool, `aauth.dev/access-mode`.
    expect(Object.fromEntries(mcp.transport.aauth.toolAccessModes())).toEqual({
      whoami: 'agent-token',
      create_note: 'auth-token',
      delete_note: 'per-call',
    });
    // Every MCP request was signed with the agent token alone; nothing was asked of the PS.
    const posts = world.rs.requests.filter((r) => r.path === '/mcp');
    expect(posts.length).toBeGreaterThanOrEqual(3);
    for (const request of posts) expect(request.headers['signature-key']).toMatch(/^sig=jwt;jwt="/);
    expect(psHits('/person') + psHits('/token')).toBe(0);
    // The initialized notification's bare 202 reached the SDK as "accepted" (not a deferred response).
    expect(
      world.rs.requests.some(
        (r) => r.path === '/mcp' && r.body.toString().includes('notifications/initialized'),
      ),
    ).toBe(true);
    await mcp.close();
  });

  it('an agent-token tool is called with the agent token alone', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    const result = await mcp.client.callTool({ name: 'whoami', arguments: {} });
    expect(textOf(result)).toMatch(/^aauth:/);
    expect(stub.calls).toEqual(['whoami:agent']);
    expect(psHits('/person') + psHits('/token')).toBe(0);
    await mcp.close();
  });

  it('R3 §Operation Access Annotations: the auth token of an auth-token tool is obtained before its first call', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    const result = await mcp.client.callTool({ name: 'create_note', arguments: { text: 'milk' } });
    expect(result.structuredContent).toEqual({ text: 'milk' });
    // The first tools/call already carried the auth token: no 401 on the call itself.
    expect(stub.calls).toEqual(['create_note:auth']);
    // R3 §Authorization Endpoint Extensions: r3_operations in the MCP vocabulary, signed with a person token.
    const authorize = world.rs.requests.filter((r) => r.path === '/authorize');
    expect(authorize.map((r) => r.json())).toEqual([
      { r3_operations: { vocabulary: 'urn:aauth:vocabulary:mcp', operations: [{ tool: 'create_note' }] } },
    ]);
    expect(psHits('/person')).toBe(1);
    expect(psHits('/token')).toBe(1);
    // A second call presents the cached auth token: nothing more is obtained.
    await mcp.client.callTool({ name: 'create_note', arguments: { text: 'eggs' } });
    expect(stub.calls).toEqual(['create_note:auth', 'create_note:auth']);
    expect(psHits('/token')).toBe(1);
    await mcp.close();
  });

  it('annotations are advisory: a resource refusing the authorization request leaves it to the 401 challenge', async () => {
    await world.close();
    world = await createWorld();
    stub = installMcpStub(world, { authorize: 'refuse' });
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    const result = await mcp.client.callTool({ name: 'create_note', arguments: { text: 'milk' } });
    expect(result.structuredContent).toEqual({ text: 'milk' });
    // person token (for /authorize), /authorize refused, the call challenged, answered, retried.
    expect(stub.calls).toEqual(['create_note:person', 'create_note:auth']);
    expect(psHits('/token')).toBe(1);
    await mcp.close();
  });

  it('a resource token naming no R3 document for r3_operations is not exchanged: the auth token held is kept', async () => {
    await world.close();
    world = await createWorld();
    stub = installMcpStub(world, { authorize: 'scope-only' });
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    await mcp.client.callTool({ name: 'create_note', arguments: { text: 'milk' } });
    const held = (await agent.tokens()).find((t) => t.kind === 'auth')!;
    const tokensBefore = psHits('/token');
    // delete_note is not in the held grant: /authorize is asked, answers without r3_uri, and the
    // agent leaves it to the call's challenge instead of trading its grant for a scope-only one.
    const result = await mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n1' } });
    expect(textOf(result)).toBe('deleted n1');
    expect(
      world.rs.requests
        .filter((r) => r.path === '/authorize')
        .at(-1)!
        .json(),
    ).toEqual({
      r3_operations: {
        vocabulary: 'urn:aauth:vocabulary:mcp',
        operations: [{ tool: 'create_note' }, { tool: 'delete_note' }],
      },
    });
    const cached = (await agent.tokens()).find((t) => t.kind === 'auth')!;
    // The class grant from the challenge (delete_note in r3_per_call) replaced the held one; the
    // scope-only resource token from /authorize was never taken to the PS.
    expect(stub.authTokens.slice(-2)).toMatchObject([
      { r3_per_call: { operations: [{ tool: 'delete_note' }] } },
      { r3_granted: { operations: [{ tool: 'delete_note' }] } },
    ]);
    expect(psHits('/token')).toBe(tokensBefore + 2);
    expect(cached.claims).not.toEqual(held.claims);
    await mcp.close();
  });

  it('R3 §Per-Call Proposals (401 flow): the per-call token is used once, on the identical retry, and never cached', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    await mcp.client.callTool({ name: 'create_note', arguments: { text: 'milk' } });
    const classTokensBefore = stub.authTokens.length;

    const result = await mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n1' } });
    expect(textOf(result)).toBe('deleted n1');
    expect(stub.deleted).toEqual(['n1']);
    expect(stub.proposals).toEqual(['n1']);
    // Before the call: a class grant naming delete_note in r3_per_call (and keeping create_note);
    // then the proposal's per-call grant.
    expect(stub.authTokens.slice(classTokensBefore)).toMatchObject([
      {
        r3_granted: { operations: [{ tool: 'create_note' }] },
        r3_per_call: { operations: [{ tool: 'delete_note' }] },
      },
      { r3_granted: { operations: [{ tool: 'delete_note' }] } },
    ]);
    // The retry is the same call: the same JSON-RPC body, byte for byte.
    const deletes = stub.callBodies.filter((b) => b.includes('delete_note'));
    expect(deletes).toHaveLength(2);
    expect(deletes[1]).toBe(deletes[0]);
    // The cached auth token is still the class grant, not the one-shot per-call token.
    const cached = Object.values((await agent.tokens()).filter((t) => t.kind === 'auth'));
    expect(cached).toHaveLength(1);
    expect(cached[0]!.claims).toMatchObject({ r3_per_call: { operations: [{ tool: 'delete_note' }] } });

    // Another destructive call is a new proposal and a new per-call grant, not a reuse.
    const tokensBefore = psHits('/token');
    await mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n2' } });
    expect(stub.proposals).toEqual(['n1', 'n2']);
    expect(psHits('/token')).toBe(tokensBefore + 1);
    expect(stub.deleted).toEqual(['n1', 'n2']);
    // And create_note still runs on the class grant with nothing more obtained.
    await mcp.client.callTool({ name: 'create_note', arguments: { text: 'bread' } });
    expect(psHits('/token')).toBe(tokensBefore + 1);
    await mcp.close();
  });

  it('R3 §Per-Call Proposals, Single use: a lost response is retried with the same per-call token, executed once', async () => {
    let dropNext = true;
    const lossy: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      const body =
        init.body === undefined || init.body === null
          ? ''
          : typeof init.body === 'string'
            ? init.body
            : Buffer.from(init.body as Uint8Array).toString();
      // The per-call retry executes at the resource, then its response is lost in transit.
      if (dropNext && url.endsWith('/mcp') && response.status === 200 && body.includes('delete_note')) {
        dropNext = false;
        await response.body?.cancel();
        throw new TypeError('fetch failed');
      }
      return response;
    };
    const agent = await world.enrolledAgent({ fetch: lossy });
    const mcp = await connect(agent);
    const result = await mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n1' } });
    expect(textOf(result)).toBe('deleted n1');
    expect(stub.deleted).toEqual(['n1']);
    // One proposal, one per-call grant: the person was not asked again.
    expect(stub.proposals).toEqual(['n1']);
    expect(stub.authTokens.filter((t) => t.r3_per_call === undefined)).toHaveLength(1);
    // The repeat presented the same per-call auth token (freshly signed).
    const deletes = world.rs.requests.filter(
      (r) => r.path === '/mcp' && r.body.toString().includes('delete_note'),
    );
    expect(deletes).toHaveLength(3);
    expect(deletes[2]!.headers['signature-key']).toBe(deletes[1]!.headers['signature-key']);
    expect(deletes[2]!.headers.signature).not.toBe(deletes[1]!.headers.signature);
    await mcp.close();
  });

  it('a per-call guess from the annotation that was the class grant is kept, and the proposal answered', async () => {
    const agent = await world.enrolledAgent();
    // No planning: the class grant comes from the call's own challenge; the issuer lists delete_note
    // in r3_granted, so only the resource's next challenge shows it was not the per-call grant.
    const mcp = await connectMcpClient(agent, mcpUrl(), { prepare: false });
    await mcp.client.listTools();
    stub.state.grantAll = true;
    const result = await mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n1' } });
    expect(textOf(result)).toBe('deleted n1');
    expect(stub.calls).toEqual([
      'delete_note:agent',
      'delete_note:person',
      'delete_note:auth',
      'delete_note:auth',
    ]);
    expect(stub.proposals).toEqual(['n1']);
    const cached = (await agent.tokens()).filter((t) => t.kind === 'auth');
    expect(cached).toHaveLength(1);
    expect(cached[0]!.claims).toMatchObject({ r3_granted: { operations: [{ tool: 'delete_note' }] } });
    // The cached one is the class grant, not the proposal's per-call grant.
    expect(stub.documents.get(cached[0]!.claims!.r3_s256 as string)?.parameters).toBeUndefined();
    await mcp.close();
  });

  it('a challenge after the per-call token was presented is an error, not a second approval', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connect(agent);
    stub.state.rechallengePerCall = true;
    const attempt = mcp.client.callTool({ name: 'delete_note', arguments: { id: 'n1' } });
    await expect(attempt).rejects.toBeInstanceOf(RemoteError);
    await expect(attempt).rejects.toMatchObject({ error: 'per_call_refused', status: 401 });
    expect(stub.deleted).toEqual([]);
    await mcp.close();
  });

  it('a 202 carrying an AAuth requirement is followed to its result, never handed to the MCP SDK as accepted', async () => {
    const agent = await world.enrolledAgent();
    const mcp = await connectMcpClient(agent, mcpUrl(), { prepare: false });
    stub.state.deferCalls = true;
    const result = await mcp.client.callTool({ name: 'whoami', arguments: {} });
    expect(textOf(result)).toBe('held whoami');
    expect(world.rs.hits('GET', '/mcp/pending/1')).toBe(1);
    expect(psHits('/token')).toBe(1);
    await mcp.close();
  });

  it('works as a transport any SDK Client is given', async () => {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const agent = await world.enrolledAgent();
    const client = new Client({ name: 'host', version: '1' });
    await client.connect(new AAuthMcpTransport(agent, mcpUrl()));
    expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toMatch(/^aauth:/);
    await client.close();
  });
});

describe('under a mission: the person token only where the person is needed (docs/spec-decisions.md)', () => {
  /** The `typ` of the token each `/mcp` request (of `method`, if given) presented in `Signature-Key`. */
  function presentedTypes(method?: string): string[] {
    return world.rs.requests
      .filter((r) => r.path === '/mcp' && (method === undefined || r.json().method === method))
      .map((r) => {
        const jwt = /jwt="([^"]+)"/.exec(r.headers['signature-key'] ?? '')?.[1] ?? '';
        return String(decodeJwtUnverified(jwt).header.typ);
      });
  }

  async function agentUnderMission() {
    const agent = await world.enrolledAgent();
    const mission = await agent.proposeMission({ description: '# Notes', resources: [world.rs.url] });
    expect(mission.person_token_resources).toEqual([world.rs.url]);
    return agent;
  }

  it('initialize, the notification and tools/list present the agent token, not the mission’s person token', async () => {
    const mcp = await connect(await agentUnderMission());
    const types = presentedTypes();
    expect(types.length).toBeGreaterThanOrEqual(3);
    expect(new Set(types)).toEqual(new Set(['aa-agent+jwt']));
    // An agent-token tool needs no person either.
    await mcp.client.callTool({ name: 'whoami', arguments: {} });
    expect(stub.calls).toEqual(['whoami:agent']);
    expect(psHits('/person')).toBe(0);
    await mcp.close();
  });

  it('an auth-token tool is authorized with the mission’s person token (no new one) and called with the auth token', async () => {
    const mcp = await connect(await agentUnderMission());
    await mcp.client.callTool({ name: 'create_note', arguments: { text: 'milk' } });
    expect(stub.calls).toEqual(['create_note:auth']);
    const authorize = world.rs.requests.find((r) => r.path === '/authorize')!;
    const jwt = /jwt="([^"]+)"/.exec(authorize.headers['signature-key'] ?? '')![1]!;
    expect(decodeJwtUnverified(jwt).header.typ).toBe('aa-person+jwt');
    expect(psHits('/person')).toBe(0);
    // Held now, the auth token is presented on protocol messages too (§Auth Token Usage).
    await mcp.client.listTools();
    expect(presentedTypes().at(-1)).toBe('aa-auth+jwt');
    await mcp.close();
  });

  it('a resource asking for the person on tools/list (401 requirement=person-token) gets the held person token on the retry', async () => {
    const agent = await agentUnderMission();
    const mcp = await connectMcpClient(agent, mcpUrl());
    world.rs.route('POST', '/mcp', async (request) => {
      const token = world.tokenOf(await world.verify(request, { requireBodyComponents: true }));
      if (token.kind === 'agent')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      const message = request.json() as { id: unknown };
      return { status: 200, body: { jsonrpc: '2.0', id: message.id, result: { tools: [] } } };
    });
    expect(await mcp.client.listTools()).toEqual({ tools: [] });
    expect(presentedTypes('tools/list')).toEqual(['aa-agent+jwt', 'aa-person+jwt']);
    expect(psHits('/person')).toBe(0);
    await mcp.close();
  });

  it('a resource declaring access_mode person-token is sent the person token up front', async () => {
    world.rs.route('GET', '/.well-known/aauth-resource.json', () => ({
      status: 200,
      body: { ...world.rsIssuer.metadata, access_mode: 'person-token' },
    }));
    const mcp = await connect(await agentUnderMission());
    expect(new Set(presentedTypes())).toEqual(new Set(['aa-person+jwt']));
    await mcp.close();
  });
});

describe('aauth mcp', () => {
  function cli() {
    const out: string[] = [];
    const err: string[] = [];
    const store = createMemoryStore();
    const run = (...argv: string[]) =>
      runCli(argv, {
        out: (t) => out.push(t),
        err: (t) => err.push(t),
        env: {},
        agent: { store, clock: world.clock, sleep: async () => {}, keys: world.keys },
      });
    return { run, out, err };
  }

  it('tools lists each tool with its access mode; --json carries the annotation', async () => {
    const { run, out } = cli();
    expect(await run('enroll', world.ps.url)).toBe(0);
    out.length = 0;
    expect(await run('mcp', 'tools', mcpUrl())).toBe(0);
    expect(out.join('')).toBe(
      ['whoami       agent-token   ', 'create_note  auth-token    ', 'delete_note  per-call      ', ''].join(
        '\n',
      ),
    );
    out.length = 0;
    expect(await run('mcp', 'tools', '--json', mcpUrl())).toBe(0);
    expect(JSON.parse(out.join('')).tools[2]).toMatchObject({
      name: 'delete_note',
      access_mode: 'per-call',
      annotated_access_mode: 'per-call',
      annotations: { destructiveHint: true },
    });
  });

  it('call does the whole dance; --verbose shows the steps', async () => {
    const { run, out, err } = cli();
    expect(await run('enroll', world.ps.url)).toBe(0);
    out.length = 0;
    err.length = 0;
    expect(await run('mcp', 'call', mcpUrl(), 'create_note', '--args', '{"text":"milk"}', '--verbose')).toBe(
      0,
    );
    expect(JSON.parse(out.join(''))).toEqual({ text: 'milk' });
    const steps = err.join('');
    expect(steps).toContain(
      'mcp: tools/list: whoami (agent-token), create_note (auth-token), delete_note (per-call)',
    );
    expect(steps).toContain('mcp: create_note: obtained auth token before the call');
    out.length = 0;
    expect(await run('mcp', 'call', mcpUrl(), 'delete_note', '--args', '{"id":"n1"}', '--json')).toBe(0);
    expect(JSON.parse(out.join(''))).toMatchObject({ content: [{ type: 'text', text: 'deleted n1' }] });
  });

  it('usage and bad --args are typed one-line errors with exit code 1', async () => {
    const { run, err } = cli();
    expect(await run('mcp', 'call', mcpUrl())).toBe(1);
    expect(err.join('')).toBe(
      'aauth: usage: aauth mcp tools <mcp-url> | aauth mcp call <mcp-url> <tool> [--args JSON]\n',
    );
    err.length = 0;
    expect(await run('mcp', 'call', mcpUrl(), 'create_note', '--args', '[1]')).toBe(1);
    expect(err.join('')).toBe('aauth: --args must be a JSON object\n');
    err.length = 0;
    // Not enrolled: the agent's own typed error.
    expect(await run('mcp', 'tools', mcpUrl())).toBe(1);
    expect(err.join('')).toMatch(/^aauth: not_enrolled — /);
  });
});
