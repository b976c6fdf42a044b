import { injectBuilt } from '@aauth-ref/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  buildRequest,
  decodePayload,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { buildMcpRequest, callTool, MCP_BODY_COMPONENTS, MCP_HEADERS, rpc, sendMcp } from './support/mcp.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** An agent whose person token (for `sub`) this resource has verified: its PS is then trusted and known. */
async function agentWithPerson(sub: string, jti?: string): Promise<TestAgent> {
  const agent = newAgent(t);
  const response = await send(t, {
    path: '/api/me',
    key: agent.key,
    signatureKey: personToken(t, agent.key, { sub, ...(jti === undefined ? {} : { jti }) }),
  });
  expect(response.statusCode).toBe(200);
  return agent;
}

function toolResult(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(200);
  const body = response.json();
  expect(body.error).toBeUndefined();
  return body.result as { structuredContent?: Record<string, unknown>; isError?: boolean };
}

describe('MCP endpoint — discovery on an agent token', () => {
  it('initialize and tools/list with only an agent token; tools carry the R3 access mode annotation', async () => {
    const agent = newAgent(t);
    const init = await sendMcp(
      t,
      agent,
      agent.agentToken,
      rpc('initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'test', version: '1' },
      }),
    );
    expect(init.statusCode).toBe(200);
    expect(init.headers['content-type']).toMatch(/^application\/json/);
    expect(init.headers['mcp-session-id']).toBeUndefined();
    expect(init.json().result).toMatchObject({
      serverInfo: { name: 'aauth-reference-notes' },
      capabilities: { tools: {} },
    });

    const list = await sendMcp(t, agent, agent.agentToken, rpc('tools/list'));
    expect(list.statusCode).toBe(200);
    const tools = list.json().result.tools as Array<Record<string, unknown>>;
    expect(tools.map((tool) => tool.name)).toEqual(['list_notes', 'create_note', 'delete_note']);
    // R3 §Vocabulary Encodings: `_meta` of the Tool, `aauth.dev/access-mode`; the destructive tool is per-call.
    expect(tools.map((tool) => tool._meta)).toEqual([
      { 'aauth.dev/access-mode': 'auth-token' },
      { 'aauth.dev/access-mode': 'auth-token' },
      { 'aauth.dev/access-mode': 'per-call' },
    ]);
    for (const tool of tools) expect(tool).not.toHaveProperty('scopes');
    expect(tools[2]).toMatchObject({ annotations: { destructiveHint: true } });
  });

  it('a notification is accepted with 202 and no body', async () => {
    const agent = newAgent(t);
    const response = await sendMcp(t, agent, agent.agentToken, {
      jsonrpc: '2.0',
      method: 'notifications/initialized',
    });
    expect(response.statusCode).toBe(202);
    expect(response.body).toBe('');
  });

  it('§Agent Token Required: an unsigned request → 401 requirement=agent-token', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/mcp',
      headers: { host: 'localhost:3003', 'content-type': 'application/json', ...MCP_HEADERS },
      payload: rpc('tools/list'),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=agent-token');
    expect(response.headers['signature-error']).toBeUndefined();
  });

  it('§Resource Metadata additional_signature_components: a POST not covering content-digest → 401 invalid_input', async () => {
    const agent = newAgent(t);
    const request = buildMcpRequest(t, agent, agent.agentToken, rpc('tools/list'));
    const response = await injectBuilt(t.app, {
      ...request,
      headers: {
        ...request.headers,
        'signature-input': request.headers['signature-input']!.replace(
          ' "content-type" "content-digest"',
          '',
        ),
      },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toMatch(/^error=invalid_input/);
  });

  it('§Freshness and Replay: the same signed MCP request twice → the second is refused', async () => {
    const agent = newAgent(t);
    const request = buildMcpRequest(t, agent, agent.agentToken, rpc('tools/list'));
    expect((await injectBuilt(t.app, request)).statusCode).toBe(200);
    const replayed = await injectBuilt(t.app, request);
    expect(replayed.statusCode).toBe(401);
    expect(replayed.headers['signature-error']).toBeDefined();
  });

  it('stateless: GET and DELETE /mcp → 405 Allow: POST', async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await t.app.inject({ method, url: '/mcp', headers: { host: 'localhost:3003' } });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe('POST');
    }
  });
});

describe('MCP endpoint — tools answer the REST API challenges (§Auth Token Required)', () => {
  it('list_notes signed with a person token → 401 requirement=auth-token, resource token scope notes.read', async () => {
    const agent = newAgent(t);
    const response = await callTool(
      t,
      agent,
      personToken(t, agent.key, { sub: 'mcp-reader', jti: 'mcp-pt-1' }),
      'list_notes',
    );
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBeUndefined();
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      aud: t.ps.issuer,
      sub: 'mcp-reader',
      presented_jti: 'mcp-pt-1',
      agent_jkt: agent.key.thumbprint,
      scope: 'notes.read',
    });
  });

  it('list_notes with an agent token and no person token on record → 401 requirement=person-token', async () => {
    const agent = newAgent(t);
    const response = await callTool(t, agent, agent.agentToken, 'list_notes');
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('with a notes.read + notes.write auth token: create, list and delete notes', async () => {
    const agent = await agentWithPerson('mcp-writer');
    const token = authToken(t, agent.key, { sub: 'mcp-writer', scope: 'notes.read notes.write' });
    const created = toolResult(await callTool(t, agent, token, 'create_note', { text: 'from MCP' }));
    const note = (created.structuredContent as { note: { id: string; notebook: string; text: string } }).note;
    expect(note).toMatchObject({ notebook: 'personal', text: 'from MCP' });

    const listed = toolResult(await callTool(t, agent, token, 'list_notes'));
    expect(listed.structuredContent).toMatchObject({ notebook: 'personal', notes: [{ text: 'from MCP' }] });

    // The same data as the REST API.
    const rest = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(rest.json().notes).toMatchObject([{ id: note.id, text: 'from MCP' }]);

    const deleted = toolResult(await callTool(t, agent, token, 'delete_note', { id: note.id }));
    expect(deleted.structuredContent).toEqual({ deleted: note.id });
    const again = toolResult(await callTool(t, agent, token, 'delete_note', { id: note.id }));
    expect(again.isError).toBe(true);
  });

  it('§Auth Token Required (step-up): create_note with only notes.read → 401 auth-token for notes.read notes.write', async () => {
    // The person token this resource verified for the key is what the new resource token names.
    const agent = await agentWithPerson('mcp-stepup', 'mcp-pt-stepup');
    const token = authToken(t, agent.key, { sub: 'mcp-stepup', scope: 'notes.read' });
    const response = await callTool(t, agent, token, 'create_note', { text: 'not yet' });
    expect(response.statusCode).toBe(401);
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      sub: 'mcp-stepup',
      presented_jti: 'mcp-pt-stepup',
      scope: 'notes.read notes.write',
    });
    expect(await t.prisma.note.count({ where: { text: 'not yet' } })).toBe(0);
  });

  it('a batch needs every scope any of its calls needs', async () => {
    const agent = await agentWithPerson('mcp-batch');
    const token = authToken(t, agent.key, { sub: 'mcp-batch', scope: 'notes.read' });
    const response = await sendMcp(t, agent, token, [
      rpc('tools/call', { name: 'list_notes', arguments: {} }),
      rpc('tools/call', { name: 'delete_note', arguments: { id: 'x' } }),
    ]);
    expect(response.statusCode).toBe(401);
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({ scope: 'notes.read notes.write' });
  });

  it('an auth token for another resource → 401 invalid_jwt, even for tools/list', async () => {
    const agent = newAgent(t);
    const token = authToken(t, agent.key, { aud: 'https://other.example' });
    const response = await sendMcp(t, agent, token, rpc('tools/list'));
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toMatch(/^error=invalid_jwt/);
  });

  it('create_note with an empty text → a tool error, not an HTTP error', async () => {
    const agent = await agentWithPerson('mcp-bad-args');
    const token = authToken(t, agent.key, { sub: 'mcp-bad-args' });
    const result = toolResult(await callTool(t, agent, token, 'create_note', { text: '' }));
    expect(result.isError).toBe(true);
  });

  it('an unknown tool → JSON-RPC error', async () => {
    const agent = newAgent(t);
    const response = await callTool(t, agent, agent.agentToken, 'drop_tables');
    expect(response.statusCode).toBe(200);
    expect(response.json().error).toMatchObject({ code: -32602 });
  });
});

describe('MCP endpoint — the official MCP client over a signing fetch', () => {
  /** A fetch that signs every request with `token` and sends it through `app.inject` (no socket). */
  function signingFetch(agent: TestAgent, token: () => string) {
    return async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const method = init?.method ?? 'GET';
      const body = typeof init?.body === 'string' ? init.body : undefined;
      const response = await injectBuilt(
        t.app,
        buildRequest(t, {
          method,
          path: new URL(url).pathname,
          key: agent.key,
          signatureKey: token(),
          headers,
          ...(body === undefined ? {} : { body, additionalComponents: MCP_BODY_COMPONENTS }),
        }),
      );
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) responseHeaders.set(name, String(value));
      }
      const empty = response.statusCode === 202 || response.statusCode === 204 || response.body === '';
      return new Response(empty ? null : response.body, {
        status: response.statusCode,
        headers: responseHeaders,
      });
    };
  }

  it('connects, lists the tools with the agent token, and calls list_notes with an auth token', async () => {
    const agent = await agentWithPerson('mcp-client');
    let token = agent.agentToken;
    const client = new Client({ name: 'aauth-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('http://localhost:3003/mcp'), {
        fetch: signingFetch(agent, () => token),
      }),
    );
    const { tools } = await client.listTools();
    expect(tools.find((tool) => tool.name === 'delete_note')?._meta).toEqual({
      'aauth.dev/access-mode': 'per-call',
    });
    token = authToken(t, agent.key, { sub: 'mcp-client', scope: 'notes.read notes.write' });
    await client.callTool({ name: 'create_note', arguments: { text: 'via the SDK client' } });
    const listed = await client.callTool({ name: 'list_notes', arguments: {} });
    expect(listed.structuredContent).toMatchObject({ notes: [{ text: 'via the SDK client' }] });
    await client.close();
  });
});

describe('MCP endpoint — malformed bodies are never a 500', () => {
  it('invalid JSON → 400 problem+json invalid_request', async () => {
    const agent = newAgent(t);
    const response = await sendMcp(t, agent, agent.agentToken, '{"jsonrpc": "2.0", "method": ');
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('JSON that is not JSON-RPC → 400 with a JSON-RPC error', async () => {
    const agent = newAgent(t);
    for (const body of [{ hello: 'world' }, [], { jsonrpc: '2.0', id: 1, method: 'tools/call', params: 7 }]) {
      const response = await sendMcp(t, agent, agent.agentToken, body as Record<string, unknown>);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        jsonrpc: '2.0',
        id: null,
        error: { code: expect.any(Number) },
      });
    }
  });

  it('a body without Accept: text/event-stream → 406 from the MCP transport, not a 500', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      method: 'POST',
      path: '/mcp',
      key: agent.key,
      signatureKey: agent.agentToken,
      body: rpc('tools/list'),
      headers: { accept: 'application/json' },
      additionalComponents: MCP_BODY_COMPONENTS,
    });
    expect(response.statusCode).toBe(406);
  });
});

describe('resource metadata — R3 vocabularies', () => {
  it('R3 §Resource Metadata Extensions: r3_vocabularies maps the MCP vocabulary to the MCP endpoint', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/.well-known/aauth-resource.json',
      headers: { host: 'localhost:3003' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().r3_vocabularies).toEqual({
      'urn:aauth:vocabulary:mcp': 'http://localhost:3003/mcp',
      'urn:aauth:vocabulary:openapi': 'http://localhost:3003/openapi.json',
    });
  });
});
