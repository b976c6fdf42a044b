import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Agent } from '../agent.js';
import { connectMcpClient } from '../mcp/client.js';
import { MCP_ACCESS_MODE_META, MCP_BUDGET_META } from '../r3.js';

/** Where `aauth mcp` writes. */
interface McpIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/**
 * How long one MCP request may take: a call can wait for the person's consent at the PS (the SDK's
 * default of 60 s would abandon it while the person reads the consent page).
 */
const MCP_REQUEST_TIMEOUT_MS = 15 * 60_000;

const USAGE = 'usage: aauth mcp tools <mcp-url> | aauth mcp call <mcp-url> <tool> [--args JSON]';

function parseArgsOption(value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new TypeError('--args must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError('--args must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function describeTool(tool: Tool, accessMode: string | undefined) {
  const meta = tool._meta ?? {};
  return {
    name: tool.name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    ...(tool.description === undefined ? {} : { description: tool.description }),
    access_mode: accessMode ?? null,
    ...(meta[MCP_ACCESS_MODE_META] === undefined
      ? {}
      : { annotated_access_mode: meta[MCP_ACCESS_MODE_META] }),
    ...(meta[MCP_BUDGET_META] === undefined ? {} : { budget: meta[MCP_BUDGET_META] }),
    ...(tool.annotations === undefined ? {} : { annotations: tool.annotations }),
    inputSchema: tool.inputSchema,
  };
}

/** `aauth mcp tools|call`: the MCP client over the agent's signing fetch. Returns the exit code. */
export async function runMcp(
  agent: Agent,
  rest: readonly string[],
  values: { args?: string; verbose?: boolean },
  json: boolean,
  io: McpIo,
): Promise<number> {
  const [action, url, toolName] = rest;
  if ((action !== 'tools' && action !== 'call') || url === undefined) throw new TypeError(USAGE);
  if (action === 'call' && toolName === undefined) throw new TypeError(USAGE);
  const args = action === 'call' ? parseArgsOption(values.args) : {};
  const verbose = (text: string) => {
    if (values.verbose) io.err(`  mcp: ${text}\n`);
  };
  const mcp = await connectMcpClient(agent, url, {
    onPrepared: (tool, prepared) =>
      verbose(
        `${tool}: ${prepared.outcome} ${prepared.kind} token before the call${prepared.detail ? ` (${prepared.detail})` : ''}`,
      ),
  });
  try {
    const server = mcp.client.getServerVersion();
    verbose(`connected to ${server?.name ?? 'an MCP server'} ${server?.version ?? ''}`.trimEnd());
    // The tool list is read first in both commands: its annotations plan the call (R3 §Operation
    // Access Annotations).
    const { tools } = await mcp.client.listTools(undefined, { timeout: MCP_REQUEST_TIMEOUT_MS });
    const modes = mcp.transport.aauth;
    verbose(`tools/list: ${tools.map((t) => `${t.name} (${modes.accessModeOf(t.name) ?? '—'})`).join(', ')}`);
    if (action === 'tools') {
      const described = tools.map((tool) => describeTool(tool, modes.accessModeOf(tool.name)));
      if (json) io.out(`${JSON.stringify({ tools: described })}\n`);
      else if (described.length === 0) io.out('no tools\n');
      else {
        const width = Math.max(...described.map((t) => t.name.length));
        for (const tool of described) {
          io.out(
            `${tool.name.padEnd(width)}  ${String(tool.access_mode ?? '—').padEnd(12)}  ${tool.title ?? tool.description ?? ''}\n`,
          );
        }
      }
      return 0;
    }
    const name = toolName as string;
    if (!tools.some((tool) => tool.name === name)) {
      verbose(`${name} is not in tools/list; calling it anyway (the server decides)`);
    }
    const result = await mcp.client.callTool({ name, arguments: args }, undefined, {
      timeout: MCP_REQUEST_TIMEOUT_MS,
    });
    const failed = result.isError === true;
    if (json) {
      io.out(`${JSON.stringify(result)}\n`);
    } else {
      const text =
        result.structuredContent !== undefined && !failed
          ? JSON.stringify(result.structuredContent, null, 2)
          : (Array.isArray(result.content) ? result.content : [])
              .map((part) => (part.type === 'text' ? part.text : `[${part.type}]`))
              .join('\n');
      (failed ? io.err : io.out)(`${failed ? `aauth: tool_error — ${text}` : text}\n`);
    }
    return failed ? 1 : 0;
  } finally {
    await mcp.close();
  }
}
