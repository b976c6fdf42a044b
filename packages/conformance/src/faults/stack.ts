import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort, type ServerApp, type ServerProcess, startServerProcess } from './processes.js';

/** The three servers as processes, each on a database of its own (PostgreSQL URLs given by the caller). */
export interface ProcessStack {
  readonly ps: ServerProcess;
  readonly as: ServerProcess;
  readonly rs: ServerProcess;
  readonly all: readonly ServerProcess[];
  stop(): Promise<void>;
}

/** Extra environment per server (e.g. shorter lifetimes and retention for the soak). */
export type ServerEnv = Readonly<Partial<Record<ServerApp, Readonly<Record<string, string>>>>>;

/**
 * Starts PS, AS and resource (development mode, demo person alice seeded at the PS); each writes its
 * log (level `LOG_LEVEL`, default `warn`) to `<logDir>/<app>.log`.
 */
export async function startProcessStack(
  databases: Readonly<Record<ServerApp, string>>,
  logDir: string,
  serverEnv: ServerEnv = {},
): Promise<ProcessStack> {
  const log = process.env.FAULTS_LOG === '1';
  const level = process.env.LOG_LEVEL ?? 'warn';
  const dirs: string[] = [];
  const started: ServerProcess[] = [];
  /** A port free when chosen may be taken before the server binds it: then another port. */
  const start = async (app: ServerApp, roleEnv: Record<string, string>) => {
    const env = { ...roleEnv, ...serverEnv[app] };
    const dataDir = await mkdtemp(join(tmpdir(), `aauth-faults-${app}-`));
    dirs.push(dataDir);
    for (let attempt = 0; ; attempt++) {
      const server = startServerProcess({
        app,
        port: await findFreePort(),
        dataDir,
        databaseUrl: databases[app],
        env: { LOG_LEVEL: level, ...env },
        log,
        logFile: join(logDir, `${app}.log`),
      });
      started.push(server);
      try {
        await server.ready(240_000);
        return server;
      } catch (err) {
        await server.kill('SIGKILL');
        if (!server.tail().includes('EADDRINUSE') || attempt >= 2) throw err;
      }
    }
  };
  const stopAll = async () => {
    await Promise.all(started.map((server) => server.kill('SIGTERM')));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  };
  const settled = await Promise.allSettled([
    start('person-server', { SEED_DEMO_PERSONS: '1' }),
    start('auth-server', { SEED_DEMO_USERS: '0' }),
    start('resource-server', { SEED_DEMO_USERS: '0' }),
  ]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const [ps, as, rs] = settled.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value) as [
    ServerProcess,
    ServerProcess,
    ServerProcess,
  ];
  const all = [ps, as, rs];
  const stop = stopAll;
  return { ps, as, rs, all, stop };
}

/** `/readyz` of a server: `true` on 200, `false` on anything else or no answer within `timeoutMs`. */
export async function isReady(server: ServerProcess, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await fetch(`${server.issuer}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The load average (1, 5, 15 min) of the machine, for the report. */
export { loadavg } from 'node:os';
