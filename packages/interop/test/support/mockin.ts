import { createServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';

/**
 * `@hellocoop/mockin` 2.0.0 — the spec author team's mock Person Server — in this process on a loopback
 * port. Mockin reads `PORT`/`IP`/`ISSUER` once, when its `config.js` is first imported, so the port is
 * chosen first and the module is imported after; one mockin per test file (vitest isolates files).
 * Its own `src/server.js` does the same with its default port; we only register its routes
 * (`src/api.js`) on a Fastify 5 instance of ours so that it listens where the test says.
 */
export interface Mockin {
  /** `http://127.0.0.1:<port>`: mockin's PS issuer. */
  readonly issuer: string;
  /** `PUT /mock/aauth`: switches mockin's simulated behaviour (its README, *AAuth*). */
  configure(patch: Record<string, unknown>): Promise<void>;
  /** `DELETE /mock`: back to its defaults (auto-approve everything). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
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

export async function startMockin(): Promise<Mockin> {
  const port = await freePort();
  process.env.PORT = String(port);
  process.env.IP = '127.0.0.1';
  const issuer = `http://127.0.0.1:${port}`;
  process.env.ISSUER = issuer;
  // @ts-expect-error mockin ships JavaScript without type declarations
  const { default: api } = (await import('@hellocoop/mockin/src/api.js')) as {
    default: (app: FastifyInstance) => FastifyInstance;
  };
  const app = Fastify({ logger: false });
  api(app);
  await app.listen({ port, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${issuer}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`mockin ${method} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    issuer,
    configure: (patch) => call('PUT', '/mock/aauth', patch),
    reset: () => call('DELETE', '/mock'),
    close: () => app.close(),
  };
}
