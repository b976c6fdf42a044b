import { type KeyPair, toPublicJwks } from '@aauth-ref/core';
import type { FastifyInstance } from 'fastify';

/** Metadata and keys change rarely; five minutes keeps rotation responsive and load low. */
const PUBLIC_CACHE = 'public, max-age=300';

export type MetadataSource = Record<string, unknown> | (() => Record<string, unknown>);

/** Serves a metadata document at `/.well-known/<dwk>` (§Metadata Documents). */
export function registerMetadataRoute(app: FastifyInstance, dwk: string, document: MetadataSource): void {
  app.get(`/.well-known/${dwk}`, async (_request, reply) => {
    const body = typeof document === 'function' ? document() : document;
    return reply
      .header('cache-control', PUBLIC_CACHE)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(body));
  });
}

/**
 * Serves the JWKS at `path`: public members with `alg` and `kid` only, whatever the key source holds
 * (§JWKS Discovery and Caching: every published key carries a fully-specified `alg`).
 */
export function registerJwksRoute(
  app: FastifyInstance,
  path: string,
  keys: () => ReadonlyArray<Pick<KeyPair, 'jwk' | 'kid'>>,
): void {
  app.get(path, async (_request, reply) => {
    return reply
      .header('cache-control', PUBLIC_CACHE)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(toPublicJwks(keys())));
  });
}
