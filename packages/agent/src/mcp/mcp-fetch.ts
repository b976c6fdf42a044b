import type { FetchLike as McpFetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Agent, PreparedCredential } from '../agent.js';
import { type AccessMode, MCP_VOCABULARY, mcpToolAccessMode } from '../r3.js';

/**
 * The `fetch` an MCP Streamable HTTP client transport is given so that it can talk to an
 * AAuth-protected MCP server: every HTTP request goes through `Agent.fetch` (signed, every
 * `AAuth-Requirement` answered and retried) before the MCP SDK sees the response. On top of that it
 * reads the MCP vocabulary the way R3 means an agent to:
 * - a `tools/list` response is read for each tool's operation access annotation (`_meta`
 *   `aauth.dev/access-mode`, `aauth.dev/budget`, R3 §Vocabulary Encodings);
 * - before a `tools/call`, the credential the tool's annotation names is obtained
 *   (`Agent.prepareCredential`), so the first call of a write tool already carries an auth token;
 * - the call is tagged with the tools it invokes and their access modes, so a per-call auth token
 *   (R3 §Per-Call Proposals, `401` flow) is presented once, on the retry of that same call, and never
 *   cached for another.
 * - a request that needs no person — no tool called (`initialize`, `tools/list`, notifications), or
 *   only `agent-token` tools — presents a held auth token, else the agent token, never a person token
 *   the agent holds (for instance from a mission's approval); a resource declaring `access_mode`
 *   `person-token` gets it, and a `401 requirement=person-token` brings it on the retry
 *   (docs/spec-decisions.md, *MCP: the person token only where the person is needed*).
 * A bare `202` (a notification accepted) is returned as is; a `202` carrying AAuth's deferred
 * delivery is followed by the agent to its final response, never handed to the MCP SDK as "accepted".
 */

export interface AAuthMcpFetchOptions {
  /** Obtain a tool's annotated credential before its first call (default true). */
  readonly prepare?: boolean;
  /** Told what was prepared before each tool call (for `--verbose` output). */
  readonly onPrepared?: (tool: string, prepared: PreparedCredential) => void;
}

interface JsonRpcMessage {
  readonly method?: unknown;
  readonly params?: unknown;
  readonly result?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON-RPC messages of a body (one message or a batch); nothing for a body that is not JSON. */
function messagesOf(text: string): JsonRpcMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  return (Array.isArray(value) ? value : [value]).filter(isRecord);
}

/** The JSON-RPC messages of an SSE body (`data:` lines of each event). */
function sseMessagesOf(text: string): JsonRpcMessage[] {
  const messages: JsonRpcMessage[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data !== '') messages.push(...messagesOf(data));
  }
  return messages;
}

function calledTools(messages: readonly JsonRpcMessage[]): string[] {
  const tools: string[] = [];
  for (const message of messages) {
    if (message.method !== 'tools/call' || !isRecord(message.params)) continue;
    const name = message.params.name;
    if (typeof name === 'string' && !tools.includes(name)) tools.push(name);
  }
  return tools;
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

function bodyOf(init: RequestInit | undefined): string | Uint8Array | undefined {
  const body = init?.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  throw new TypeError('An MCP request body must be a string or bytes to be signed.');
}

export class AAuthMcpFetch {
  /** The `fetch` to give `StreamableHTTPClientTransport`. */
  readonly fetch: McpFetchLike;
  private readonly agent: Agent;
  private readonly options: AAuthMcpFetchOptions;
  private readonly modes = new Map<string, AccessMode | undefined>();

  constructor(agent: Agent, options: AAuthMcpFetchOptions = {}) {
    this.agent = agent;
    this.options = options;
    this.fetch = (input, init) => this.send(typeof input === 'string' ? input : input.href, init);
  }

  /** Every tool a `tools/list` response named, with its effective access mode (R3 §Applying Annotations). */
  toolAccessModes(): ReadonlyMap<string, AccessMode | undefined> {
    return this.modes;
  }

  /** The effective access mode of a listed tool; `undefined` when unannotated and the resource declares none. */
  accessModeOf(tool: string): AccessMode | undefined {
    return this.modes.get(tool);
  }

  private async resourceAccessMode(url: string): Promise<unknown> {
    try {
      return (await this.agent.resourceMetadata(url)).access_mode;
    } catch {
      // A resource without usable metadata: the annotations alone are read (§Applying Annotations).
      return undefined;
    }
  }

  private async send(url: string, init: RequestInit | undefined): Promise<Response> {
    const body = bodyOf(init);
    const messages = typeof body === 'string' ? messagesOf(body) : [];
    const tools = calledTools(messages);
    const accessModes = tools.map((tool) => this.modes.get(tool));
    if (this.options.prepare !== false) {
      for (const [index, tool] of tools.entries()) {
        const prepared = await this.agent.prepareCredential(url, {
          accessMode: accessModes[index],
          vocabulary: MCP_VOCABULARY,
          operation: { tool },
        });
        this.options.onPrepared?.(tool, prepared);
      }
    }
    const withoutPersonToken = await this.needsNoPerson(url, accessModes);
    const response = await this.agent.fetch(url, {
      method: init?.method ?? 'GET',
      headers: headersOf(init),
      ...(body === undefined ? {} : { body }),
      ...(init?.signal ? { signal: init.signal } : {}),
      ...(withoutPersonToken ? { withoutPersonToken } : {}),
      ...(tools.length === 0
        ? {}
        : {
            invocation: {
              vocabulary: MCP_VOCABULARY,
              operations: tools.map((tool) => ({ tool })),
              accessModes,
            },
          }),
    });
    if (response.ok && messages.some((message) => message.method === 'tools/list')) {
      return this.readToolList(url, response);
    }
    return response;
  }

  /**
   * Whether a request invoking tools of `accessModes` (none: an MCP protocol message) can go without
   * the person token (R3 §Access Mode Annotation: `agent-token` is "its agent token — identity only").
   * Protocol messages invoke no operation, so the resource-wide `access_mode` decides: only a resource
   * authorizing on the person's identity (`person-token`) is sent the person up front.
   */
  private async needsNoPerson(
    url: string,
    accessModes: readonly (AccessMode | undefined)[],
  ): Promise<boolean> {
    if (accessModes.length > 0) return accessModes.every((mode) => mode === 'agent-token');
    return (await this.resourceAccessMode(url)) !== 'person-token';
  }

  /**
   * Records the annotations of a `tools/list` answer, read in full before the MCP SDK sees it so a
   * `tools/call` right after is planned with them.
   */
  private async readToolList(url: string, response: Response): Promise<Response> {
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    const messages = type.startsWith('text/event-stream') ? sseMessagesOf(text) : messagesOf(text);
    const resourceMode = await this.resourceAccessMode(url);
    for (const message of messages) {
      const tools = isRecord(message.result) ? message.result.tools : undefined;
      if (!Array.isArray(tools)) continue;
      for (const tool of tools) {
        if (isRecord(tool) && typeof tool.name === 'string') {
          this.modes.set(tool.name, mcpToolAccessMode(tool, resourceMode));
        }
      }
    }
    const headers = new Headers(response.headers);
    // The body is handed on decoded and whole.
    headers.delete('content-encoding');
    headers.delete('content-length');
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  }
}
