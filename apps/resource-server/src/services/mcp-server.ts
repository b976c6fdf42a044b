import { InvalidRequest } from '@aauth-ref/core';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { runNoteDeletion } from './held-invocations.js';
import { findMcpTool, MCP_TOOLS, type McpToolName, publishedMcpTool } from './mcp-tools.js';
import type { NotesService } from './notes-service.js';
import type { NoteStore, PersonRef } from './ports.js';

/**
 * The MCP server of the demo resource (Streamable HTTP, stateless, JSON responses). The AAuth
 * decision is taken before the MCP dispatch (routes/mcp.ts); this module only runs the tools for the
 * person and notebook that decision granted. Built per request, as the SDK's stateless mode requires.
 *
 * The SDK's low-level `Server` is used rather than `McpServer`: the tools are plain JSON Schema and
 * `_meta` data (services/mcp-tools.ts), so no zod schema layer is needed.
 */

export const MCP_SERVER_INFO = { name: 'aauth-reference-notes', version: '0.1.0' } as const;

/** Whose data the tools act on: `(ps, sub)` and notebook of a verified auth token. */
export interface McpGrant {
  readonly person: PersonRef;
  readonly notebook: string;
  /** The tools the presented auth token was checked for. */
  readonly tools: readonly McpToolName[];
  /**
   * Set when the token is a per-call auth token (R3 §Per-Call Proposals): that tool runs through
   * `execute`, which runs it at most once and answers a repeat from the retained result.
   */
  readonly perCall?: {
    readonly tool: McpToolName;
    execute(run: (notes: NoteStore) => Promise<CallToolResult>): Promise<CallToolResult>;
  };
}

export interface McpServiceDeps {
  readonly notes: NotesService;
  readonly noteStore: NoteStore;
}

/** A web `Request` in, the MCP transport's web `Response` out. */
export interface McpExchange {
  readonly request: Request;
  readonly parsedBody: unknown;
  /** Present when the body calls tools and the auth token covers all of them. */
  readonly grant?: McpGrant;
}

function textResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

function toolError(detail: string): CallToolResult {
  return { content: [{ type: 'text', text: detail }], isError: true };
}

function argumentsOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

async function callTool(
  deps: McpServiceDeps,
  grant: McpGrant,
  name: McpToolName,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  const { person, notebook } = grant;
  switch (name) {
    case 'list_notes': {
      const notes = await deps.notes.list(person, notebook);
      return textResult({ notebook, notes: notes.map((note) => ({ ...note })) });
    }
    case 'create_note': {
      try {
        const note = await deps.notes.create(person, notebook, { text: args.text });
        return textResult({ note: { ...note } });
      } catch (err) {
        // A bad argument is a tool execution error the model can correct (MCP §Error Handling).
        if (err instanceof InvalidRequest) return toolError(err.detail ?? 'Invalid arguments.');
        throw err;
      }
    }
    case 'delete_note': {
      const id = args.id;
      if (typeof id !== 'string' || id.length === 0) return toolError('id is required: a non-empty string.');
      const result = await runNoteDeletion(deps.noteStore, person, notebook, id);
      if (result.status === 200) return textResult(result.body as Record<string, unknown>);
      return toolError('This notebook holds no such note.');
    }
  }
}

function createMcpServer(deps: McpServiceDeps, grant: McpGrant | undefined): Server {
  const server = new Server(MCP_SERVER_INFO, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: MCP_TOOLS.map(publishedMcpTool) }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = findMcpTool(request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${String(request.params.name)}`);
    // The route checked the credential for every tool this body calls; nothing runs unchecked.
    if (!grant?.tools.includes(tool.name)) {
      throw new McpError(ErrorCode.InternalError, 'The call was not authorized.');
    }
    const args = argumentsOf(request.params.arguments);
    if (grant.perCall?.tool === tool.name) {
      // At most once; the deletion runs in the transaction that records the consumed proposal.
      return grant.perCall.execute((notes) =>
        callTool({ ...deps, noteStore: notes }, grant, tool.name, args),
      );
    }
    return callTool(deps, grant, tool.name, args);
  });
  return server;
}

export interface McpService {
  handle(exchange: McpExchange): Promise<Response>;
}

export function createMcpService(deps: McpServiceDeps): McpService {
  return {
    async handle(exchange) {
      const server = createMcpServer(deps, exchange.grant);
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      try {
        return await transport.handleRequest(exchange.request, { parsedBody: exchange.parsedBody });
      } finally {
        await server.close();
      }
    },
  };
}
