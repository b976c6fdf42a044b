import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openDatabase } from '@aauth-ref/db';
import { findFreePort } from './processes.js';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of the fault scripts' own (issue #10: never the shared server on 5432):
 * `initdb` in a temporary folder, `pg_ctl` on a free loopback port, trust authentication, no TCP
 * listener but 127.0.0.1. Stopping and starting it is the fault. As root the binaries run as the
 * `postgres` user (initdb refuses root).
 */
export interface PostgresCluster {
  readonly port: number;
  readonly dir: string;
  /** `postgresql://postgres@127.0.0.1:<port>/<database>`. */
  url(database: string): string;
  createDatabase(name: string): Promise<string>;
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: sessions are disconnected, the server shuts down cleanly. */
  stop(): Promise<void>;
  /** Stops the cluster (if running) and deletes its folder. */
  destroy(): Promise<void>;
}

async function findBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root)).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL under ${root}`);
  return join(root, versions[0]!, 'bin');
}

export async function createPostgresCluster(): Promise<PostgresCluster> {
  const bin = await findBinDir();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'aauth-faults-pg-'));
  const data = join(dir, 'data');
  const port = await findFreePort();
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(dir, uid, gid);
  }
  const pgRun = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);

  await pgRun('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  let running = false;
  const cluster: PostgresCluster = {
    port,
    dir,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(name) {
      const admin = await openDatabase({ url: cluster.url('postgres'), poolSize: 1 });
      try {
        await admin.exec(`CREATE DATABASE ${name}`);
      } finally {
        await admin.close();
      }
      return cluster.url(name);
    },
    async start() {
      await pgRun('pg_ctl', ['start', '-w', '-D', data, '-o', options, '-l', join(dir, 'server.log')]);
      running = true;
    },
    async stop() {
      await pgRun('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]);
      running = false;
    },
    async destroy() {
      if (running) await cluster.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
