import type { FastifyInstance } from 'fastify';
import { REVOKE_PATH } from '../metadata.js';
import { type AppContext, callingPersonServer, PS_WRITE } from './context.js';

/** `POST /revoke` (`revocation_endpoint`, §Token Revocation): `200` when revoked or already revoked. */
export function registerRevokeRoute(app: FastifyInstance, context: AppContext): void {
  app.post(REVOKE_PATH, { config: { aauth: PS_WRITE } }, async (request, reply) => {
    const ps = callingPersonServer(request);
    await context.revocations.revoke(ps, request.body);
    request.log.info({ event: 'token.revoked', ps }, 'auth token revoked');
    return reply.code(200).header('cache-control', 'no-store').send();
  });
}
