import { NOTES_READ, NOTES_WRITE } from '../scopes.js';
import { MAX_NOTE_LENGTH } from './notes-service.js';

/**
 * The MCP tools of the demo resource (R3 §MCP Vocabulary) and what each needs. Tool definitions are
 * plain data: the JSON Schema of the arguments and the operation access annotation (R3 §Vocabulary
 * Encodings: `_meta` of the Tool, `aauth.dev/access-mode`). The scopes are the resource's own
 * enforcement — the same scope the REST route for the same data asks for (docs/spec-decisions.md,
 * *Resource server: MCP endpoint*); the annotation only tells an agent what to expect (R3
 * §Operation Access Annotations Are Not Authorization).
 */

/** R3's vocabulary URI for MCP servers (R3 §MCP Vocabulary). */
export const MCP_VOCABULARY = 'urn:aauth:vocabulary:mcp';

/** The `_meta` key R3 defines for the access mode annotation of an MCP tool. */
export const ACCESS_MODE_META = 'aauth.dev/access-mode';

export type McpToolName = 'list_notes' | 'create_note' | 'delete_note';

export interface McpToolDefinition {
  readonly name: McpToolName;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: {
    readonly type: 'object';
    readonly properties: Record<string, object>;
    readonly required?: readonly string[];
    readonly additionalProperties: false;
  };
  /** MCP tool annotations (hints for the host, not authorization). */
  readonly annotations: {
    readonly readOnlyHint: boolean;
    readonly destructiveHint: boolean;
    readonly idempotentHint: boolean;
    readonly openWorldHint: false;
  };
  readonly _meta: { readonly [ACCESS_MODE_META]: 'agent-token' | 'person-token' | 'auth-token' | 'per-call' };
  /** Scopes the auth token must carry (enforced by the resource; never published). */
  readonly scopes: readonly string[];
}

export const MCP_TOOLS: readonly McpToolDefinition[] = [
  {
    name: 'list_notes',
    title: 'List notes',
    description:
      'Lists the notes in the notebook the auth token is bound to (`personal` unless the grant names `work`), newest first.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    _meta: { [ACCESS_MODE_META]: 'auth-token' },
    scopes: [NOTES_READ],
  },
  {
    name: 'create_note',
    title: 'Create a note',
    description: 'Adds a note to the notebook the auth token is bound to.',
    inputSchema: {
      type: 'object',
      properties: { text: { type: 'string', minLength: 1, maxLength: MAX_NOTE_LENGTH } },
      required: ['text'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    _meta: { [ACCESS_MODE_META]: 'auth-token' },
    scopes: [NOTES_WRITE],
  },
  {
    name: 'delete_note',
    title: 'Delete a note',
    description: 'Permanently deletes one note, by its id, from the notebook the auth token is bound to.',
    inputSchema: {
      type: 'object',
      properties: { id: { type: 'string', minLength: 1 } },
      required: ['id'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    // R3 §Per-Call Proposals: every deletion is challenged with a proposal describing that call.
    _meta: { [ACCESS_MODE_META]: 'per-call' },
    scopes: [NOTES_WRITE],
  },
];

const TOOLS_BY_NAME: ReadonlyMap<string, McpToolDefinition> = new Map(
  MCP_TOOLS.map((tool) => [tool.name, tool]),
);

export function findMcpTool(name: unknown): McpToolDefinition | undefined {
  return typeof name === 'string' ? TOOLS_BY_NAME.get(name) : undefined;
}

/** A tool as `tools/list` publishes it: everything but the resource's own enforcement data. */
export function publishedMcpTool(tool: McpToolDefinition) {
  const { scopes: _scopes, ...published } = tool;
  return published;
}

/**
 * What an MCP POST body asks for, read before the MCP dispatch: the tools it calls (`tools/call`
 * with a `params.name` this server defines) and the union of their scopes. A body that is not
 * JSON-RPC calls nothing here; the MCP transport answers it with its JSON-RPC error. A batch (an
 * array) needs every scope any of its calls needs.
 */
export function requiredScopesOfMcpBody(body: unknown): { tools: McpToolName[]; scopes: string[] } {
  const messages = Array.isArray(body) ? body : [body];
  const tools: McpToolName[] = [];
  const scopes = new Set<string>();
  for (const message of messages) {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) continue;
    const { method, params } = message as { method?: unknown; params?: unknown };
    if (method !== 'tools/call' || typeof params !== 'object' || params === null) continue;
    const tool = findMcpTool((params as { name?: unknown }).name);
    if (!tool) continue;
    if (!tools.includes(tool.name)) tools.push(tool.name);
    for (const scope of tool.scopes) scopes.add(scope);
  }
  return { tools, scopes: [...scopes] };
}

/** One `tools/call` of a tool this server defines, with its arguments (R3 per-call parameters). */
export interface McpToolCall {
  readonly tool: McpToolName;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** The `tools/call` messages of an MCP POST body that name tools of this server, in order. */
export function toolCallsOfMcpBody(body: unknown): McpToolCall[] {
  const messages = Array.isArray(body) ? body : [body];
  const calls: McpToolCall[] = [];
  for (const message of messages) {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) continue;
    const { method, params } = message as { method?: unknown; params?: unknown };
    if (method !== 'tools/call' || typeof params !== 'object' || params === null) continue;
    const tool = findMcpTool((params as { name?: unknown }).name);
    if (!tool) continue;
    const args = (params as { arguments?: unknown }).arguments;
    calls.push({
      tool: tool.name,
      arguments:
        typeof args === 'object' && args !== null && !Array.isArray(args)
          ? (args as Record<string, unknown>)
          : {},
    });
  }
  return calls;
}
