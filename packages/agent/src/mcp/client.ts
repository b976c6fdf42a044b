import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  type StreamableHTTPClientTransportOptions,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Agent } from '../agent.js';
import { AAuthMcpFetch, type AAuthMcpFetchOptions } from './mcp-fetch.js';

/** Options of the AAuth MCP transport: ours, plus the SDK transport's own (all but `fetch`). */
export interface AAuthMcpTransportOptions extends AAuthMcpFetchOptions {
  readonly transport?: Omit<StreamableHTTPClientTransportOptions, 'fetch' | 'authProvider'>;
}

/**
 * The official MCP SDK's Streamable HTTP client transport over an AAuth agent: give it to any
 * `Client` (`await client.connect(new AAuthMcpTransport(agent, url))`) and every MCP request is
 * signed and every AAuth challenge answered before the SDK sees it. `aauth` exposes the access
 * modes read from `tools/list`.
 */
export class AAuthMcpTransport extends StreamableHTTPClientTransport {
  readonly aauth: AAuthMcpFetch;

  constructor(agent: Agent, url: string | URL, options: AAuthMcpTransportOptions = {}) {
    const aauth = new AAuthMcpFetch(agent, options);
    super(typeof url === 'string' ? new URL(url) : url, { ...options.transport, fetch: aauth.fetch });
    this.aauth = aauth;
  }
}

/** The MCP client the SDK's helpers and the CLI use. */
export const MCP_CLIENT_INFO = { name: 'aauth-ref-agent', version: '0.1.0' } as const;

export interface ConnectedMcpClient {
  readonly client: Client;
  readonly transport: AAuthMcpTransport;
  close(): Promise<void>;
}

/** Connects an SDK `Client` to an AAuth-protected MCP server (initialize, then ready for requests). */
export async function connectMcpClient(
  agent: Agent,
  url: string | URL,
  options: AAuthMcpTransportOptions & { readonly clientInfo?: { name: string; version: string } } = {},
): Promise<ConnectedMcpClient> {
  const transport = new AAuthMcpTransport(agent, url, options);
  const client = new Client(options.clientInfo ?? MCP_CLIENT_INFO);
  await client.connect(transport);
  return { client, transport, close: () => client.close() };
}
