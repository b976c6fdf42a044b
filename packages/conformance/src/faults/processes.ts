import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The servers as real operating-system processes, started the way an operator starts them
 * (`src/main.ts` with its environment), so a fault can kill one (SIGKILL), restart it on the same
 * port and database, and read its RSS — none of which an in-process `buildApp` allows. The TypeScript
 * sources run through `node --conditions=source --import tsx`, as the bench and the dev scripts do.
 */

export type ServerApp = 'person-server' | 'auth-server' | 'resource-server';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
/** `--import tsx` resolves from the working directory: this package depends on tsx. */
const PACKAGE_DIR = join(REPO_ROOT, 'packages', 'conformance');

export function mainOf(app: ServerApp): string {
  return join(REPO_ROOT, 'apps', app, 'src', 'main.ts');
}

/** A port free right now on loopback; the caller names it in `ISSUER` before the server listens. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

export interface ServerProcessOptions {
  readonly app: ServerApp;
  readonly port: number;
  /** Folder for keys (generated on the first start in dev mode, reused on a restart) and PGlite. */
  readonly dataDir: string;
  /** PostgreSQL URL; absent: the embedded PGlite database under `dataDir`. */
  readonly databaseUrl?: string;
  /** Extra environment (role settings such as `PERSON_SERVER_TRUST`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Pass the server's log lines through (`FAULTS_LOG=1`); otherwise only the last lines are kept. */
  readonly log?: boolean;
  /** Append everything the process writes to this file as well. */
  readonly logFile?: string;
}

export interface ServerProcess {
  readonly app: ServerApp;
  readonly issuer: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves with the exit code or signal once the process has ended. */
  readonly exited: Promise<string>;
  /** The last lines the process wrote (for a failure message). */
  tail(): string;
  /** Resolves once `GET /readyz` answers `200`; rejects if the process exits first or `timeoutMs` passes. */
  ready(timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<string>;
  /** Resident set size in bytes (from `/proc`), `undefined` once the process is gone. */
  rss(): Promise<number | undefined>;
}

/** Starts one server process in development mode on `127.0.0.1:<port>`, silent logs unless asked. */
export function startServerProcess(options: ServerProcessOptions): ServerProcess {
  const issuer = `http://127.0.0.1:${options.port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AAUTH_DEV: '1',
    HOST: '127.0.0.1',
    PORT: String(options.port),
    ISSUER: issuer,
    DATA_DIR: options.dataDir,
    LOG_LEVEL: options.log ? 'info' : 'warn',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  };
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', mainOf(options.app)],
    { cwd: PACKAGE_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const file = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
  const keep = (chunk: Buffer) => {
    file?.write(chunk);
    if (options.log) process.stderr.write(`[${options.app}] ${chunk.toString('utf8')}`);
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let ended: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      ended = signal ?? `exit ${code}`;
      file?.end();
      resolve(ended);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.app} did not start`);
  // A script or test that dies (an uncaught error, process.exit) leaves no server running behind it.
  const reap = () => {
    if (ended === undefined) child.kill('SIGKILL');
  };
  process.once('exit', reap);
  void exited.then(() => process.removeListener('exit', reap));

  return {
    app: options.app,
    issuer,
    port: options.port,
    pid,
    exited,
    tail: () => lines.join('\n'),
    async ready(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (ended !== undefined)
          throw new Error(`${options.app} exited (${ended}) before it was ready:\n${lines.join('\n')}`);
        try {
          const res = await fetch(`${issuer}/readyz`, { signal: AbortSignal.timeout(2_000) });
          await res.body?.cancel();
          if (res.status === 200) return;
        } catch {
          // Not listening yet.
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${options.app} not ready within ${timeoutMs} ms:\n${lines.join('\n')}`);
    },
    async kill(signal) {
      if (ended === undefined) child.kill(signal);
      return exited;
    },
    async rss() {
      if (ended !== undefined) return undefined;
      try {
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
        return kib === undefined ? undefined : Number(kib) * 1024;
      } catch {
        return undefined;
      }
    },
  };
}
