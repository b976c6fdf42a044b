import { injectBuilt } from '@aauth-ref/testkit';
import { buildRequest, type TestAgent, type TestApp } from './app-harness.js';

/**
 * Signed MCP requests to the resource's `/mcp` (MCP Streamable HTTP, stateless): JSON-RPC bodies
 * whose `content-type` and `content-digest` the signature covers, as the resource's metadata
 * (`additional_signature_components`) asks of a POST.
 */

/** What the MCP Streamable HTTP transport requires of every POST. */
export const MCP_HEADERS = {
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
};
export const MCP_BODY_COMPONENTS = ['content-type', 'content-digest'];

/** A JSON-RPC message, an array of them (a batch), or raw text (sent as `application/json`). */
export type McpBody = Record<string, unknown> | unknown[] | string;

let nextMcpId = 1;

/** A JSON-RPC request with a fresh `id`. */
export function rpc(method: string, params?: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: '2.0', id: nextMcpId++, method, ...(params === undefined ? {} : { params }) };
}

/** A signed POST of `body` to `/mcp` presenting `token` in `Signature-Key`, not yet sent. */
export function buildMcpRequest(t: TestApp, agent: Pick<TestAgent, 'key'>, token: string, body: McpBody) {
  return buildRequest(t, {
    method: 'POST',
    path: '/mcp',
    key: agent.key,
    signatureKey: token,
    body,
    headers: typeof body === 'string' ? { ...MCP_HEADERS, 'content-type': 'application/json' } : MCP_HEADERS,
    additionalComponents: MCP_BODY_COMPONENTS,
  });
}

export function sendMcp(t: TestApp, agent: Pick<TestAgent, 'key'>, token: string, body: McpBody) {
  return injectBuilt(t.app, buildMcpRequest(t, agent, token, body));
}

/** A signed MCP `tools/call` presenting `token` in `Signature-Key`. */
export function callTool(
  t: TestApp,
  agent: Pick<TestAgent, 'key'>,
  token: string,
  name: string,
  args: Record<string, unknown> = {},
) {
  return sendMcp(t, agent, token, rpc('tools/call', { name, arguments: args }));
}
