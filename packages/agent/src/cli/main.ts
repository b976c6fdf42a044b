import { parseArgs } from 'node:util';
import { DEV, type IdentifierPolicy, isAAuthError, STRICT } from '@aauth-ref/core';
import { Agent } from '../agent.js';
import { createFileStore, defaultStateDirectory } from '../file-store.js';
import type { AgentEvent } from '../runtime.js';
import type { AgentStore, Mission, MissionTool } from '../store.js';
import {
  answerClarification,
  askOnTerminal,
  interactionLink,
  openInBrowser,
  renderQrCode,
} from './interaction.js';
import { runMcp } from './mcp.js';

/** Where the CLI writes; injected by tests. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Overrides for tests (store, fetch, clock, sleep …). */
  readonly agent?: Partial<ConstructorParameters<typeof Agent>[0]>;
  /** Opens a URL in the browser (`--open`); default: the OS opener. */
  readonly open?: (url: string) => Promise<boolean>;
  /** Asks the person a question at the terminal (clarifications); default: a line from stdin. */
  readonly ask?: (question: string) => Promise<string>;
}

const USAGE = `usage: aauth <command> [options]

  enroll <ps-url> [--agent-provider URL] [--name NAME]   enroll this agent; shows the approval URL and code
  whoami [--json]                                          the agent identifier, Agent Provider, PS and key
  fetch [-X METHOD] [-d BODY] [-H 'Name: value']... [--mission S256|current] [--as SUBAGENT]
        [--verbose] [--json] <url>                         a signed request that answers every requirement
  mission propose "<markdown>" [--tool NAME[=DESCRIPTION]]... [--resource URL]... [--json]
                                                           propose a mission; waits for the person's review
  mission show [S256] [--json]                             the current (or given) mission and its updates
  mission list [--json]                                    every mission stored
  mission update "<markdown>" [--mission S256]             record a change in the work
  mission complete "<summary>" [--mission S256]            propose completion; waits for the person
  subagent create <name> [--json]                          a sub-agent with its own key and token
  subagent list [--json]                                   the sub-agents created
  mcp tools [--json] [--verbose] <mcp-url>                 the tools of an MCP server and the credential each needs
  mcp call <mcp-url> <tool> [--args JSON] [--json] [--verbose]
                                                           call a tool; obtains what it needs first
  token show [--json]                                      the tokens held, decoded
  logout                                                   forget keys and tokens

When the person is needed the interaction is relayed through the Person Server when it can;
otherwise the URL and code are printed (--qr adds a QR code, --open opens the browser).

State lives in $AAUTH_HOME (default ~/.aauth). http://localhost and 127.0.0.1 servers (AAUTH_DEV=1)
are accepted for the local stack.`;

const LOOPBACK = /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?(\/|$)/;

function policyFor(env: NodeJS.ProcessEnv, ...urls: (string | undefined)[]): IdentifierPolicy {
  if (env.AAUTH_DEV === '1') return DEV;
  return urls.some((url) => url !== undefined && LOOPBACK.test(url)) ? DEV : STRICT;
}

function parseHeaderOption(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values ?? []) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new TypeError(`-H expects 'Name: value', got ${value}`);
    headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim();
  }
  return headers;
}

function formatError(err: unknown): { line: string; json: Record<string, unknown> } {
  if (isAAuthError(err)) {
    const line = `aauth: ${err.error}${err.detail === undefined ? '' : ` — ${err.detail}`} (${err.status})`;
    return {
      line,
      json: {
        error: err.error,
        status: err.status,
        ...(err.detail === undefined ? {} : { detail: err.detail }),
      },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { line: `aauth: ${message}`, json: { error: 'client_error', detail: message } };
}

/** Runs one `aauth` command; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      X: { type: 'string', short: 'X' },
      d: { type: 'string', short: 'd' },
      H: { type: 'string', short: 'H', multiple: true },
      verbose: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
      name: { type: 'string' },
      'agent-provider': { type: 'string' },
      mission: { type: 'string' },
      as: { type: 'string' },
      tool: { type: 'string', multiple: true },
      args: { type: 'string' },
      resource: { type: 'string', multiple: true },
      open: { type: 'boolean' },
      qr: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  const json = values.json === true;
  if (command === undefined || values.help) {
    io.out(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  const store: AgentStore = io.agent?.store ?? createFileStore(defaultStateDirectory(io.env));
  const enrollment = await store.read('enrollment');
  let dots = false;
  const endDots = () => {
    if (dots) io.err('\n');
    dots = false;
  };
  const onEvent = (event: AgentEvent) => {
    if (values.verbose) io.err(`  ${event.step}: ${event.message}\n`);
    else if (event.step === 'poll' && !json) {
      io.err('.');
      dots = true;
    }
  };
  let missionS256 = values.mission;
  if (missionS256 === 'current') missionS256 = (await store.read('missions'))?.current;
  const agent = new Agent({
    store,
    identifierPolicy: policyFor(
      io.env,
      command === 'mcp' ? rest[1] : rest[0],
      enrollment?.agent_provider,
      enrollment?.ps,
    ),
    onEvent,
    onInteraction: async (prompt) => {
      const link = interactionLink(prompt);
      io.err(`Open ${prompt.url} and enter the code ${prompt.code}\n  (or go to ${link})\n`);
      if (values.qr) io.err(`${renderQrCode(link)}\n`);
      if (values.open && !(await (io.open ?? openInBrowser)(link))) {
        io.err('  (could not open a browser)\n');
      }
      io.err('Waiting for approval');
      dots = true;
    },
    onClarification: (prompt) => {
      endDots();
      return answerClarification(prompt, io.ask ?? askOnTerminal, io.err);
    },
    ...(missionS256 === undefined ? {} : { missionS256 }),
    ...(io.env.AAUTH_EGRESS_ALLOW === undefined ? {} : { egressAllow: io.env.AAUTH_EGRESS_ALLOW }),
    ...io.agent,
  });

  try {
    switch (command) {
      case 'enroll': {
        const psUrl = rest[0];
        if (psUrl === undefined) throw new TypeError('enroll needs the Person Server URL');
        const identity = await agent.enroll(values['agent-provider'] ?? psUrl, {
          ps: psUrl,
          ...(values.name === undefined ? {} : { name: values.name }),
          platform: 'cli',
        });
        endDots();
        io.out(
          json
            ? `${JSON.stringify(identity)}\n`
            : `Enrolled as ${identity.agent} (Agent Provider ${identity.agent_provider})\n`,
        );
        return 0;
      }
      case 'whoami': {
        const identity = await agent.whoami();
        io.out(
          json
            ? `${JSON.stringify(identity)}\n`
            : [
                `agent           ${identity.agent}`,
                `agent provider  ${identity.agent_provider}`,
                `person server   ${identity.ps ?? '—'}`,
                `durable key     ${identity.durable_jkt}`,
                `signing key     ${identity.key_thumbprint}`,
                `token expires   ${new Date(identity.expires_at * 1000).toISOString()}`,
                '',
              ].join('\n'),
        );
        return 0;
      }
      case 'fetch': {
        const url = rest[0];
        if (url === undefined) throw new TypeError('fetch needs a URL');
        const headers = parseHeaderOption(values.H);
        if (values.d !== undefined && headers['content-type'] === undefined) {
          headers['content-type'] = /^\s*[[{]/.test(values.d)
            ? 'application/json'
            : 'text/plain;charset=UTF-8';
        }
        const response = await (values.as === undefined ? agent : agent.subAgent(values.as)).fetch(url, {
          method: values.X ?? (values.d === undefined ? 'GET' : 'POST'),
          headers,
          ...(values.d === undefined ? {} : { body: values.d }),
        });
        endDots();
        const text = await response.text();
        if (json) {
          let body: unknown = text;
          try {
            body = text === '' ? null : JSON.parse(text);
          } catch {
            body = text;
          }
          io.out(
            `${JSON.stringify({ status: response.status, headers: Object.fromEntries(response.headers), body })}\n`,
          );
        } else {
          if (values.verbose) io.err(`  status: ${response.status}\n`);
          io.out(text.endsWith('\n') || text === '' ? text : `${text}\n`);
        }
        return response.ok ? 0 : 1;
      }
      case 'token': {
        if (rest[0] !== 'show') throw new TypeError('usage: aauth token show');
        const tokens = await agent.tokens();
        if (json) io.out(`${JSON.stringify(tokens)}\n`);
        else {
          for (const token of tokens) {
            const expiry =
              token.expires_at === undefined
                ? ''
                : ` expires ${new Date(token.expires_at * 1000).toISOString()}`;
            io.out(`${token.kind}${token.resource ? ` for ${token.resource}` : ''}${expiry}\n`);
            if (token.claims) io.out(`${JSON.stringify(token.claims, null, 2)}\n`);
          }
          if (tokens.length === 0) io.out('no tokens\n');
        }
        return 0;
      }
      case 'mission':
        return await runMission(agent, rest, values, json, io, endDots);
      case 'mcp': {
        const code = await runMcp(agent, rest, values, json, io);
        endDots();
        return code;
      }
      case 'subagent': {
        const [action, name] = rest;
        if (action === 'create') {
          if (name === undefined) throw new TypeError('usage: aauth subagent create <name>');
          const identity = await agent.createSubAgent(name);
          io.out(
            json
              ? `${JSON.stringify(identity)}\n`
              : `Created sub-agent ${identity.agent} (parent ${identity.parent_agent})\n`,
          );
          return 0;
        }
        if (action === 'list') {
          const all = await agent.subAgents();
          if (json) io.out(`${JSON.stringify(all)}\n`);
          else if (all.length === 0) io.out('no sub-agents\n');
          else for (const s of all) io.out(`${s.name}  ${s.agent}\n`);
          return 0;
        }
        throw new TypeError('usage: aauth subagent create <name> | aauth subagent list');
      }
      case 'logout':
        await agent.logout();
        io.out(json ? '{"status":"logged_out"}\n' : 'Forgot keys and tokens.\n');
        return 0;
      default:
        throw new TypeError(`unknown command ${command}\n${USAGE}`);
    }
  } catch (err) {
    endDots();
    const { line, json: body } = formatError(err);
    if (json) io.out(`${JSON.stringify(body)}\n`);
    else io.err(`${line}\n`);
    return 1;
  }
}

/** `--tool NAME[=DESCRIPTION]`: the PS needs a description; the name stands in for a missing one. */
function parseTool(value: string): MissionTool {
  const eq = value.indexOf('=');
  const name = (eq < 0 ? value : value.slice(0, eq)).trim();
  const description = (eq < 0 ? name : value.slice(eq + 1)).trim();
  if (name === '') throw new TypeError(`--tool expects NAME[=DESCRIPTION], got ${value}`);
  return { name, description: description === '' ? name : description };
}

function describeMission(mission: Mission, current: boolean): string {
  const lines = [
    `mission         ${mission.s256}${current ? ' (current)' : ''}`,
    `status          ${mission.status}${mission.termination_reason ? ` (${mission.termination_reason})` : ''}`,
    `approved        ${mission.approved_at} by ${mission.approver}`,
  ];
  if (mission.expires_at) lines.push(`expires         ${mission.expires_at}`);
  if (mission.approved_tools?.length)
    lines.push(`tools           ${mission.approved_tools.map((t) => t.name).join(', ')}`);
  if (mission.approved_resources?.length)
    lines.push(`resources       ${mission.approved_resources.join(', ')}`);
  if (mission.capabilities.length) lines.push(`capabilities    ${mission.capabilities.join(', ')}`);
  lines.push('', mission.description, '');
  for (const update of mission.updates) lines.push(`update ${update.s256}`, update.description, '');
  return lines.join('\n');
}

async function runMission(
  agent: Agent,
  rest: readonly string[],
  values: { json?: boolean; tool?: string[]; resource?: string[]; mission?: string },
  json: boolean,
  io: CliIo,
  endDots: () => void,
): Promise<number> {
  const [action, text] = rest;
  const target = values.mission === 'current' ? undefined : values.mission;
  switch (action) {
    case 'propose': {
      if (text === undefined) throw new TypeError('usage: aauth mission propose "<markdown>"');
      const mission = await agent.proposeMission({
        description: text,
        ...(values.tool === undefined ? {} : { tools: values.tool.map(parseTool) }),
        ...(values.resource === undefined ? {} : { resources: values.resource }),
      });
      endDots();
      io.out(json ? `${JSON.stringify(mission)}\n` : `Mission approved: ${mission.s256}\n`);
      return 0;
    }
    case 'show': {
      const mission = await agent.mission(text ?? target);
      if (mission === undefined) {
        io.out(json ? 'null\n' : 'no mission\n');
        return 1;
      }
      const current = (await agent.mission())?.s256 === mission.s256;
      io.out(json ? `${JSON.stringify(mission)}\n` : describeMission(mission, current));
      return 0;
    }
    case 'list': {
      const all = await agent.missions();
      if (json) io.out(`${JSON.stringify(all)}\n`);
      else if (all.length === 0) io.out('no missions\n');
      else for (const m of all) io.out(`${m.s256}  ${m.status}  ${m.description.split('\n')[0]}\n`);
      return 0;
    }
    case 'update': {
      if (text === undefined) throw new TypeError('usage: aauth mission update "<markdown>"');
      const update = await agent.updateMission(text, target);
      endDots();
      io.out(json ? `${JSON.stringify(update)}\n` : `Update accepted: ${update.s256}\n`);
      return 0;
    }
    case 'complete': {
      if (text === undefined) throw new TypeError('usage: aauth mission complete "<summary>"');
      const completion = await agent.completeMission(text, target);
      endDots();
      io.out(
        json
          ? `${JSON.stringify(completion)}\n`
          : `Mission ${completion.s256} ${completion.mission_status} (${completion.termination_reason ?? '—'})\n`,
      );
      return 0;
    }
    default:
      throw new TypeError('usage: aauth mission propose|show|list|update|complete');
  }
}

function defaultIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
  };
}
