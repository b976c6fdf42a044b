import type { FastifyInstance } from 'fastify';
import { type ProfileSummary, startProfiling } from './profile.js';

export interface ServeChildOptions {
  /** Members added to the `listening` report (the port is always there). */
  readonly listening?: Record<string, unknown>;
  /** Releases what the child owns after the app has closed (database, data folder). */
  readonly release: () => Promise<void>;
  /** The child's own IPC messages; `profile` and `stop` are handled here. */
  readonly onMessage?: (message: Record<string, unknown>) => void;
}

/**
 * The server side of every benchmark child: listens on a loopback port, reports it to the parent,
 * answers `profile` start/stop with an inspector CPU profile summary of this process, and on `stop`
 * (or when the parent goes away) closes the app, releases the rest and exits.
 */
export async function serveChild(app: FastifyInstance, options: ServeChildOptions): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.send?.({ type: 'listening', port: address.port, pid: process.pid, ...options.listening });

  let stopProfile: (() => Promise<ProfileSummary>) | undefined;
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      await app.close();
      await options.release();
      process.exit(0);
    })();
    return closing;
  };
  process.on('message', (received: unknown) => {
    if (typeof received !== 'object' || received === null) return;
    const message = received as Record<string, unknown>;
    if (message.type === 'profile' && message.action === 'start') {
      void startProfiling().then((stop) => {
        stopProfile = stop;
        process.send?.({ type: 'profile', started: true });
      });
    }
    if (message.type === 'profile' && message.action === 'stop' && stopProfile) {
      const stop = stopProfile;
      stopProfile = undefined;
      void stop().then((summary) => process.send?.({ type: 'profile', summary }));
    }
    if (message.type === 'stop') void shutdown();
    else options.onMessage?.(message);
  });
  process.on('disconnect', () => void shutdown());
  return address.port;
}
