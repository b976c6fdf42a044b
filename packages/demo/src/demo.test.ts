import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AAUTH_BIN, checkStack, type DemoIo, demoSteps, demoUrls, runDemo, stackProbes } from './demo.js';

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function recordingIo(
  fetchImpl?: typeof fetch,
): DemoIo & { stdout: string; stderr: string; runs: string[][] } {
  const io = {
    stdout: '',
    stderr: '',
    runs: [] as string[][],
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
    async runCli(args: readonly string[]) {
      io.runs.push([...args]);
      return 0;
    },
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  };
  return io;
}

describe('pnpm demo', () => {
  it('defaults to the pnpm dev ports: PS 3001, AS 3002, resource 3003', () => {
    expect(demoUrls({})).toEqual({
      ps: 'http://localhost:3001',
      as: 'http://localhost:3002',
      rs: 'http://localhost:3003',
    });
    expect(stackProbes(demoUrls({})).map((p) => p.url)).toEqual([
      'http://localhost:3001/.well-known/aauth-person.json',
      'http://localhost:3002/.well-known/aauth-access.json',
      'http://localhost:3003/.well-known/aauth-resource.json',
    ]);
  });

  it('walks enroll, whoami, agent identity, three-party notes, a mission proposal, in that order', () => {
    const steps = demoSteps(demoUrls({}));
    expect(steps.map((s) => s.args)).toEqual([
      ['enroll', 'http://localhost:3001', '--name', 'pnpm demo'],
      ['whoami'],
      ['fetch', '--verbose', 'http://localhost:3003/api/agent/whoami'],
      ['fetch', '--verbose', 'http://localhost:3003/api/notes'],
      [
        'mission',
        'propose',
        'Keep **my shopping list** in my notes.',
        '--tool',
        'notes=Read and write my notes',
        '--resource',
        'http://localhost:3003',
      ],
    ]);
    expect(AAUTH_BIN).toMatch(/packages\/agent\/bin\/aauth\.js$/);
  });

  it('fails with a clear message, running no CLI step, when the stack is not running', async () => {
    const port = await closedPort();
    const env = {
      DEMO_PS_URL: `http://127.0.0.1:${port}`,
      DEMO_AS_URL: `http://127.0.0.1:${port}`,
      DEMO_RS_URL: `http://127.0.0.1:${port}`,
    };
    const io = recordingIo();
    expect(await runDemo(env, io)).toBe(1);
    expect(io.runs).toEqual([]);
    expect(io.stdout).toBe('');
    expect(io.stderr).toBe(
      [
        'pnpm demo: the local stack is not running.',
        `  - auth-server (nothing answers at http://127.0.0.1:${port}/.well-known/aauth-access.json)`,
        `  - person-server (nothing answers at http://127.0.0.1:${port}/.well-known/aauth-person.json)`,
        `  - resource-server (nothing answers at http://127.0.0.1:${port}/.well-known/aauth-resource.json)`,
        'Start it in another terminal with `pnpm dev` (person-server 3001, auth-server 3002, resource-server 3003), then run `pnpm demo` again.',
        '',
      ].join('\n'),
    );
  });

  it('names a server that answers but not with its metadata', async () => {
    const urls = demoUrls({});
    const fake = (async (url: string) =>
      new Response(null, { status: url.includes(':3002') ? 404 : 200 })) as unknown as typeof fetch;
    expect(await checkStack(urls, fake)).toContain(
      '  - auth-server (http://localhost:3002/.well-known/aauth-access.json answered 404)',
    );
  });

  it('with the stack up, runs logout then each step with its own AAUTH_HOME and AAUTH_DEV=1, stopping at a failure', async () => {
    const up = (async () => new Response('{}', { status: 200 })) as unknown as typeof fetch;
    const envs: NodeJS.ProcessEnv[] = [];
    const io = recordingIo(up);
    io.runCli = async (args, env) => {
      io.runs.push([...args]);
      envs.push(env);
      return args[0] === 'fetch' && args[2]?.endsWith('/api/notes') ? 3 : 0;
    };
    expect(await runDemo({ DEMO_AAUTH_HOME: '/tmp/aauth-demo-test' }, io)).toBe(3);
    expect(io.runs.map((a) => a[0])).toEqual(['logout', 'enroll', 'whoami', 'fetch', 'fetch']);
    expect(envs.every((e) => e.AAUTH_HOME === '/tmp/aauth-demo-test' && e.AAUTH_DEV === '1')).toBe(true);
    expect(io.stderr).toBe('pnpm demo: step 4 (Three-party access to the notes) failed with exit code 3.\n');
  });
});
