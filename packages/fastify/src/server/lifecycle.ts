import type { FastifyInstance } from 'fastify';
import { isConfigError } from './config.js';

/**
 * Process lifecycle every server's `main.ts` shares (CONVENTIONS.md, *Logs, health, shutdown*):
 * listen, warn loudly in development mode, and shut down gracefully on SIGTERM/SIGINT — stop
 * accepting, let in-flight requests finish, run the app's close hooks (the database), exit 0; if that
 * takes longer than the grace period, exit 1.
 */

export const DEV_MODE_WARNING = [
  '',
  '!!! DEVELOPMENT MODE: http identifiers and loopback egress are accepted — never expose this server.',
  '!!! AAUTH_DEV=1 also makes cookies non-Secure and may generate signing keys under DATA_DIR.',
  '!!! Unset AAUTH_DEV (strict mode) for any deployment reachable from a network.',
  '',
].join('\n');

export const DEFAULT_GRACE_MS = 10_000;

export interface RunServerConfig {
  readonly HOST: string;
  readonly PORT: number;
  readonly ISSUER: string;
  readonly AAUTH_DEV: boolean;
}

export interface RunServerOptions {
  readonly name: string;
  readonly config: RunServerConfig;
  /** Builds the app (`buildApp(config, deps)`); it must not listen. */
  readonly build: () => Promise<FastifyInstance>;
  /** Runs after the app closed (in-flight requests done): close the database here if the app did not. */
  readonly onClose?: () => Promise<void>;
  /** Time allowed for a graceful shutdown before the process is forced out (default 10 s). */
  readonly graceMs?: number;
  /** Signals that start a shutdown (default SIGTERM and SIGINT; tests pass none). */
  readonly signals?: readonly NodeJS.Signals[];
  /** Ends the process (default `process.exit`; tests pass a spy). */
  readonly exit?: (code: number) => void;
  /** Also shut down on `uncaughtException` / `unhandledRejection` (default true). */
  readonly handleProcessErrors?: boolean;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** The bound address, e.g. `http://127.0.0.1:3001`. */
  readonly address: string;
  /** Starts (or joins) the graceful shutdown; resolves once `exit` was called. */
  shutdown(reason?: string): Promise<void>;
}

export async function runServer(options: RunServerOptions): Promise<RunningServer> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const app = await options.build();
  const log = app.log;

  if (options.config.AAUTH_DEV) {
    log.warn({ event: 'server.dev_mode' }, DEV_MODE_WARNING);
  }

  let closing: Promise<void> | undefined;
  const listeners: { event: string; handler: (...args: never[]) => void }[] = [];
  const detach = () => {
    for (const { event, handler } of listeners) process.removeListener(event, handler as () => void);
  };

  const shutdown = (reason = 'shutdown', exitCode = 0): Promise<void> => {
    if (closing) return closing;
    log.info({ event: 'server.stopping', reason }, `${options.name} stopping`);
    closing = new Promise<void>((done) => {
      const force = setTimeout(() => {
        log.error({ event: 'server.forced_exit', graceMs }, `${options.name} did not stop in time`);
        detach();
        exit(1);
        done();
      }, graceMs);
      force.unref();
      (async () => {
        let code = exitCode;
        try {
          await app.close();
          await options.onClose?.();
        } catch (err) {
          log.error({ event: 'server.close_failed', err }, 'error while closing');
          code = 1;
        }
        clearTimeout(force);
        log.info({ event: 'server.stopped' }, `${options.name} stopped`);
        detach();
        exit(code);
        done();
      })();
    });
    return closing;
  };

  for (const signal of options.signals ?? (['SIGTERM', 'SIGINT'] as const)) {
    const handler = () => void shutdown(signal);
    listeners.push({ event: signal, handler });
    process.on(signal, handler);
  }
  if (options.handleProcessErrors ?? true) {
    const onError = (err: unknown) => {
      log.fatal({ event: 'server.crashed', err }, 'unhandled error; shutting down');
      void shutdown('unhandled error', 1);
    };
    listeners.push({ event: 'uncaughtException', handler: onError });
    listeners.push({ event: 'unhandledRejection', handler: onError });
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
  }

  let address: string;
  try {
    address = await app.listen({ host: options.config.HOST, port: options.config.PORT });
  } catch (err) {
    detach();
    await app.close().catch(() => undefined);
    throw err;
  }
  log.info(
    { event: 'server.started', issuer: options.config.ISSUER, address, devMode: options.config.AAUTH_DEV },
    `${options.name} listening on ${address} as ${options.config.ISSUER}`,
  );
  return { app, address, shutdown: (reason) => shutdown(reason) };
}

/**
 * For `main.ts`: prints a start-up failure and sets the exit code. A `ConfigError` is printed as its
 * message alone — the operator needs the list of problems, not a stack.
 */
export function reportStartupFailure(
  err: unknown,
  write: (text: string) => void = (t) => process.stderr.write(t),
): void {
  if (isConfigError(err)) write(`${err.message}\n`);
  else write(`Start-up failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
