import { parseArgs } from 'node:util';
import { DEV, type IdentifierPolicy, isAAuthError, STRICT } from '@aauth-ref/core';
import { Agent } from '../agent.js';
import { createFileStore, defaultStateDirectory } from '../file-store.js';
import type { AgentEvent } from '../runtime.js';
import type { AgentStore } from '../store.js';

/** Where the CLI writes; injected by tests. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Overrides for tests (store, fetch, clock, sleep …). */
  readonly agent?: Partial<ConstructorParameters<typeof Agent>[0]>;
}

const USAGE = `usage: aauth <command> [options]

  enroll <ps-url> [--agent-provider URL] [--name NAME]   enroll this agent; shows the approval URL and code
  whoami [--json]                                          the agent identifier, Agent Provider, PS and key
  fetch [-X METHOD] [-d BODY] [-H 'Name: value']... [--verbose] [--json] <url>
                                                           a signed request that answers every requirement
  token show [--json]                                      the tokens held, decoded
  logout                                                   forget keys and tokens

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
  const onEvent = (event: AgentEvent) => {
    if (values.verbose) io.err(`  ${event.step}: ${event.message}\n`);
    else if (event.step === 'poll' && !json) {
      io.err('.');
      dots = true;
    }
  };
  const agent = new Agent({
    store,
    identifierPolicy: policyFor(io.env, rest[0], enrollment?.agent_provider, enrollment?.ps),
    onEvent,
    onInteraction: (prompt) => {
      const link = `${prompt.url}?code=${encodeURIComponent(prompt.code)}`;
      io.err(
        `Open ${prompt.url} and enter the code ${prompt.code}\n  (or go to ${link})\nWaiting for approval`,
      );
      dots = true;
    },
    ...(io.env.AAUTH_EGRESS_ALLOW === undefined ? {} : { egressAllow: io.env.AAUTH_EGRESS_ALLOW }),
    ...io.agent,
  });
  const endDots = () => {
    if (dots) io.err('\n');
    dots = false;
  };

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
        const response = await agent.fetch(url, {
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

function defaultIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
  };
}
