import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DWK } from '@aauth-ref/core';

/**
 * `pnpm demo`: a scripted tour of the local stack (`pnpm dev`: person-server 3001, auth-server 3002,
 * resource-server 3003) with the `aauth` CLI, each step a CLI command the person can type themselves.
 * The steps that need the person print the approval URL and code and wait while they decide in the
 * browser (the CLI does the waiting). Nothing here talks to a server except through the CLI, besides
 * the discovery probe that says clearly when the stack is not running.
 */

export interface DemoUrls {
  /** The Person Server, also the agent's Agent Provider. */
  readonly ps: string;
  /** The auth server (Access Server). */
  readonly as: string;
  /** The demo notes resource. */
  readonly rs: string;
}

/** `pnpm dev`'s servers on their default ports; `DEMO_PS_URL`, `DEMO_AS_URL`, `DEMO_RS_URL` override. */
export function demoUrls(env: NodeJS.ProcessEnv = process.env): DemoUrls {
  return {
    ps: env.DEMO_PS_URL ?? 'http://localhost:3001',
    as: env.DEMO_AS_URL ?? 'http://localhost:3002',
    rs: env.DEMO_RS_URL ?? 'http://localhost:3003',
  };
}

export interface DemoStep {
  readonly title: string;
  /** What the person will see and do, one or two sentences. */
  readonly explain: string;
  /** The `aauth` arguments. */
  readonly args: readonly string[];
}

/** The tour, in order: each access mode the CLI exercises against the stack. */
export function demoSteps(urls: DemoUrls): DemoStep[] {
  return [
    {
      title: 'Enroll the agent',
      explain: `The agent asks the Person Server's Agent Provider for an identity. Open the URL shown, sign in (alice / the demo password in the README) and approve; the CLI waits.`,
      args: ['enroll', urls.ps, '--name', 'pnpm demo'],
    },
    {
      title: 'Who am I',
      explain:
        'The agent identifier, its Agent Provider and Person Server, and the keys: from the agent token.',
      args: ['whoami'],
    },
    {
      title: 'Agent identity access',
      explain: 'The resource serves a request signed with the agent token alone (no person involved).',
      args: ['fetch', '--verbose', `${urls.rs}/api/agent/whoami`],
    },
    {
      title: 'Three-party access to the notes',
      explain:
        'The resource asks who the person is, then for an auth token; the Person Server asks the person each time. Open each URL shown and approve (first the agent acting as you at the resource, then notes.read); the CLI waits, then prints the notes.',
      args: ['fetch', '--verbose', `${urls.rs}/api/notes`],
    },
    {
      title: 'Propose a mission',
      explain:
        'The agent proposes a mission naming the notes resource; review and approve it at the URL shown.',
      args: [
        'mission',
        'propose',
        'Keep **my shopping list** in my notes.',
        '--tool',
        'notes=Read and write my notes',
        '--resource',
        urls.rs,
      ],
    },
  ];
}

export interface StackProbe {
  readonly name: string;
  readonly url: string;
}

/** What must answer before the tour starts: each server's AAuth metadata document. */
export function stackProbes(urls: DemoUrls): StackProbe[] {
  return [
    { name: 'person-server', url: `${urls.ps}/.well-known/${DWK.person}` },
    { name: 'auth-server', url: `${urls.as}/.well-known/${DWK.access}` },
    { name: 'resource-server', url: `${urls.rs}/.well-known/${DWK.resource}` },
  ];
}

/**
 * `undefined` when every server answers its metadata with 200; otherwise the message to print: which
 * servers did not answer and how to start them.
 */
export async function checkStack(
  urls: DemoUrls,
  fetchImpl: typeof fetch = fetch,
  timeoutMs = 3_000,
): Promise<string | undefined> {
  const down: string[] = [];
  await Promise.all(
    stackProbes(urls).map(async (probe) => {
      try {
        const res = await fetchImpl(probe.url, { signal: AbortSignal.timeout(timeoutMs) });
        await res.body?.cancel();
        if (res.status !== 200) down.push(`${probe.name} (${probe.url} answered ${res.status})`);
      } catch {
        down.push(`${probe.name} (nothing answers at ${probe.url})`);
      }
    }),
  );
  if (down.length === 0) return undefined;
  return [
    'pnpm demo: the local stack is not running.',
    ...down.sort().map((line) => `  - ${line}`),
    'Start it in another terminal with `pnpm dev` (person-server 3001, auth-server 3002, resource-server 3003), then run `pnpm demo` again.',
  ].join('\n');
}

/** packages/agent/bin/aauth.js (the workspace's `aauth` bin). */
export const AAUTH_BIN = fileURLToPath(new URL('../../agent/bin/aauth.js', import.meta.url));

/** The demo agent keeps its own state, apart from the person's `~/.aauth`. */
export function demoHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.DEMO_AAUTH_HOME ?? join(homedir(), '.aauth-demo');
}

export interface DemoIo {
  out(text: string): void;
  err(text: string): void;
  /** Runs `aauth` with `args`; resolves with its exit code. */
  runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number>;
  fetch?: typeof fetch;
}

/** A chunk the CLI wrote, for a caller that watches the tour (an end-to-end test acting as the person). */
export interface CliOutput {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/**
 * Runs the workspace's `aauth` bin with `args`; resolves with its exit code. The CLI writes to this
 * terminal, or, with `onOutput`, to `onOutput` only.
 */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  onOutput?: (output: CliOutput) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AAUTH_BIN, ...args], {
      stdio: onOutput === undefined ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      env,
    });
    if (onOutput !== undefined) {
      child.stdout?.setEncoding('utf8').on('data', (text: string) => onOutput({ stream: 'stdout', text }));
      child.stderr?.setEncoding('utf8').on('data', (text: string) => onOutput({ stream: 'stderr', text }));
    }
    child.once('error', reject);
    // `close`, not `exit`: every byte written to the pipes has been read by then.
    child.once('close', (code) => resolve(code ?? 1));
  });
}

export const processIo: DemoIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  runCli: (args, env) => spawnCli(args, env),
};

/** The tour; resolves with the exit code (1 when the stack is down or a step failed). */
export async function runDemo(env: NodeJS.ProcessEnv = process.env, io: DemoIo = processIo): Promise<number> {
  const urls = demoUrls(env);
  const problem = await checkStack(urls, io.fetch ?? fetch);
  if (problem !== undefined) {
    io.err(`${problem}\n`);
    return 1;
  }
  const home = demoHome(env);
  const cliEnv = { ...env, AAUTH_HOME: home, AAUTH_DEV: '1' };
  const steps = demoSteps(urls);
  io.out(`AAuth demo against ${urls.ps}, ${urls.as}, ${urls.rs} (agent state in ${home})\n`);
  // A fresh agent each tour: forget what a previous run enrolled.
  await io.runCli(['logout'], cliEnv);
  for (const [index, step] of steps.entries()) {
    io.out(
      `\n── ${index + 1}/${steps.length} ${step.title}\n${step.explain}\n$ aauth ${step.args.join(' ')}\n`,
    );
    const code = await io.runCli(step.args, cliEnv);
    if (code !== 0) {
      io.err(`pnpm demo: step ${index + 1} (${step.title}) failed with exit code ${code}.\n`);
      return code;
    }
  }
  io.out('\nDone: the mission and everything the agent did are in the Person Server log for alice.\n');
  return 0;
}
