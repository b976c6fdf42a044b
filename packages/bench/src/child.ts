import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * The benchmarks' process layout: the load generator (this process) on core 1 and the server under
 * test in a child on core 0, when `taskset` exists and there are two cores, so neither steals the
 * other's core and the server's CPU time per request can be read from its own process.
 */

/** The PostgreSQL server the benchmarks use when one is named; '' means PGlite. */
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || '';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let pinned: boolean | undefined;

/** Pins this process to core 1 (once); true when servers started by `startChild` go to core 0. */
export function pinLoadGenerator(): boolean {
  if (pinned === undefined) {
    pinned = hasTaskset() && cpus().length >= 2;
    if (pinned) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  }
  return pinned;
}

export interface ChildOptions {
  /** Variables added to this process's environment (`NODE_ENV=production` is always set). */
  readonly env: Record<string, string>;
  /** Node flags before the script (e.g. `--expose-gc`). */
  readonly nodeArgs?: readonly string[];
  /** The CPU list the child is pinned to when pinning is on (default `0`). */
  readonly cores?: string;
  /** Named in the error when the child exits before it reports ready. */
  readonly name: string;
  /**
   * `'built'`: the workspace packages the script imports resolve to their `dist/` (what `node
   * dist/main.js` runs in production) instead of their TypeScript sources compiled on the fly by tsx,
   * whose transform adds work to every function it compiles (`__name` wrappers). Default `'source'`.
   */
  readonly packages?: 'source' | 'built';
}

/**
 * Starts `script` (a TypeScript file of this package, through tsx) with an IPC channel and resolves
 * with the first message `ready` accepts — the child's `listening` report.
 */
export function startChild<T>(
  script: URL,
  options: ChildOptions,
  ready: (message: Record<string, unknown>) => T | undefined,
): Promise<{ child: ChildProcess; ready: T }> {
  const nodeArgs = [
    ...(options.nodeArgs ?? []),
    ...(options.packages === 'built' ? [] : ['--conditions=source']),
    '--import',
    'tsx',
    fileURLToPath(script),
  ];
  const [command, args] = pinLoadGenerator()
    ? ['taskset', ['-c', options.cores ?? '0', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, args as string[], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env, NODE_ENV: 'production' },
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`${options.name} exited (${String(code)}) before listening`));
    child.once('exit', onExit);
    child.on('message', (message: unknown) => {
      const value = ready((message ?? {}) as Record<string, unknown>);
      if (value === undefined) return;
      child.off('exit', onExit);
      resolve({ child, ready: value });
    });
  });
}

/** Asks the child to stop and waits for it to exit (at most `timeoutMs`). */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null) return;
  child.send({ type: 'stop' });
  await new Promise((resolve) => {
    child.once('exit', resolve);
    setTimeout(resolve, timeoutMs).unref();
  });
}
