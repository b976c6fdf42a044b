import type { FastifyInstance } from 'fastify';

export interface HealthOptions {
  /** Whether the server can serve (database reachable, migrations applied). */
  readonly ready: () => Promise<boolean>;
}

/** `/healthz` (alive) and `/readyz` (ready to serve), CONVENTIONS.md *Logs, health, shutdown*. */
export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  app.get('/healthz', async (_request, reply) =>
    reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );
  app.get('/readyz', async (request, reply) => {
    let ready = false;
    try {
      ready = await options.ready();
    } catch (err) {
      request.log.warn({ event: 'health.not_ready', err }, 'readiness check failed');
    }
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ok' : 'unavailable' });
  });
}
