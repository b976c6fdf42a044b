import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestAgentProvider, type TestAgentProvider } from '@aauth-ref/testkit';
import { createPostgresCluster, type PostgresCluster } from './postgres-cluster.js';
import type { ServerApp } from './processes.js';
import { type ProcessStack, type ServerEnv, startProcessStack } from './stack.js';

/** What a fault script runs against: its own cluster, the three servers on it, an Agent Provider. */
export interface FaultWorld {
  readonly cluster: PostgresCluster;
  /** Each server's database URL on `cluster`. */
  readonly databases: Readonly<Record<ServerApp, string>>;
  readonly stack: ProcessStack;
  readonly ap: TestAgentProvider;
}

export interface FaultOutcome {
  /** Written as JSON to `FAULTS_OUT` (default `<tmp>/aauth-fault-<name>.json`). */
  readonly result: object;
  /** What goes to stdout instead of `result` (e.g. without the long per-minute series). */
  readonly printed?: object;
  /** The script exits 1 (a violated expectation, or errors under load). */
  readonly failed: boolean;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A progress line on stdout, prefixed with the wall-clock time. */
export const say = (line: string) =>
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/**
 * Runs one fault script (`scripts/<name>.ts`) and exits the process: the cluster and servers are torn
 * down whatever happens, and a failure prints each server's log tail, which is all there is to go on
 * after the temporary folders are gone.
 */
export async function runFaultScenario(
  name: string,
  scenario: (world: FaultWorld) => Promise<FaultOutcome>,
  options: { serverEnv?: ServerEnv } = {},
): Promise<never> {
  const cluster = await createPostgresCluster();
  let stack: ProcessStack | undefined;
  let ap: TestAgentProvider | undefined;
  let exitCode = 0;
  try {
    await cluster.start();
    const databases = {
      'person-server': await cluster.createDatabase('person_server'),
      'auth-server': await cluster.createDatabase('auth_server'),
      'resource-server': await cluster.createDatabase('resource_server'),
    };
    const logDir = await mkdtemp(join(tmpdir(), `aauth-fault-${name}-logs-`));
    say(`cluster on 127.0.0.1:${cluster.port} (${cluster.dir}); server logs in ${logDir}`);
    stack = await startProcessStack(databases, logDir, options.serverEnv);
    ap = await startTestAgentProvider();
    const outcome = await scenario({ cluster, databases, stack, ap });
    const out = process.env.FAULTS_OUT ?? join(tmpdir(), `aauth-fault-${name}.json`);
    await writeFile(out, `${JSON.stringify(outcome.result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(outcome.printed ?? outcome.result, null, 2)}\n`);
    say(`written to ${out}`);
    if (outcome.failed) exitCode = 1;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    for (const server of stack?.all ?? []) process.stderr.write(`--- ${server.app}\n${server.tail()}\n`);
    exitCode = 1;
  } finally {
    await ap?.close();
    await stack?.stop();
    await cluster.destroy();
  }
  process.exit(exitCode);
}
