import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (this package lives in packages/deploy-check). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const SERVER_NAMES = ['person-server', 'auth-server', 'resource-server'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

/** A server container of docker-compose.yml: which app it runs and which database it owns. */
export interface ComposeServer {
  readonly service: string;
  readonly app: ServerName;
  readonly database: string;
}

/**
 * The server containers of docker-compose.yml. The second resource instance (call chaining's
 * downstream) runs the resource-server app again with its own identity, database and keys.
 */
export const COMPOSE_SERVERS: readonly ComposeServer[] = [
  { service: 'person-server', app: 'person-server', database: 'person_server' },
  { service: 'auth-server', app: 'auth-server', database: 'auth_server' },
  { service: 'resource-server', app: 'resource-server', database: 'resource_server' },
  { service: 'resource-server-archive', app: 'resource-server', database: 'resource_server_archive' },
];

/**
 * Runs a server's `--help` from its sources (tsx, `source` condition) and returns the environment
 * reference it prints. Nothing imports an app's modules here: the server describes itself.
 */
export function readServerHelp(server: ServerName): string {
  const result = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'src/main.ts', '--help'],
    {
      cwd: `${REPO_ROOT}apps/${server}`,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000,
    },
  );
  if (result.status !== 0) {
    throw new Error(`${server} --help exited with ${String(result.status)}: ${result.stderr}`);
  }
  return result.stdout;
}
